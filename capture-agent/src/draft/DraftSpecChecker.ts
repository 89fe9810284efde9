/** The checker of a draft run (`provml spec init`): every task and name is declared; only values the contract refuses are dropped. */
import type { CaptureValue, DataRef } from '@provml/schemas';
import { allowedValue, SpecChecker, type RefInput } from '../SpecChecker.ts';

export class DraftSpecChecker extends SpecChecker {
  override task(): boolean {
    return true;
  }

  override underUndeclared(): void {}

  override value(_task: string, _name: string, v: unknown): CaptureValue | undefined {
    if (allowedValue(v)) return v as CaptureValue;
    this.invalid++;
    return undefined;
  }

  override refs(_task: string, refs: readonly RefInput[]): DataRef[] {
    return refs
      .filter((r) => typeof r.name === 'string' && typeof r.uri === 'string')
      .map((r) => ({ name: r.name, uri: r.uri, store: r.store ?? null }));
  }
}
