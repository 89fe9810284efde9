/** Waiting for work until a deadline: how the capture library bounds flush and shutdown. */

/**
 * Waits for `work` until `deadline` (`Date.now()` ms; `Infinity`: as long as it takes).
 * @returns true when the deadline came first (the work goes on in the background)
 */
export async function pastDeadline(work: Promise<unknown>, deadline: number): Promise<boolean> {
  if (deadline === Infinity) {
    await work;
    return false;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([
    work.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now()));
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  return late;
}
