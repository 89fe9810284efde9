/** kafkajs's request queue, imported by path (kafkajsIdleLoop.ts): no types of its own. */
declare module 'kafkajs/src/network/requestQueue/index.js' {
  const RequestQueue: unknown;
  export default RequestQueue;
}
