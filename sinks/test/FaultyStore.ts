/** A fault injector around a real Oxigraph store, for the sink's tests. */
import {
  OxigraphEmbeddedStore,
  type QueryResponse,
  type ResultFormat,
  type StoreResult,
  type TripleStore,
} from '@provml/stores';

/**
 * A fault injector around a real OxigraphEmbeddedStore (not a fake store): it answers `retryable`
 * while `down`, or for the next `failNext` loads, and otherwise delegates. It records the bodies the
 * real store acknowledged.
 */
export class FaultyStore implements TripleStore {
  down = false;
  failNext = 0;
  attempts = 0;
  readonly acknowledged: string[] = [];
  readonly failed: string[] = [];

  constructor(readonly inner: OxigraphEmbeddedStore = new OxigraphEmbeddedStore()) {}

  /** Loads whose body this accepts are answered `retryable` (a load that fails while others go through). */
  refuse: (nquads: string) => boolean = () => false;

  async load(nquads: string): Promise<StoreResult> {
    this.attempts++;
    if (this.refuse(nquads)) return { kind: 'retryable', error: new Error('this load fails (injected)') };
    if (this.down || this.failNext > 0) {
      if (this.failNext > 0) this.failNext--;
      return { kind: 'retryable', error: new Error('store unavailable (injected)') };
    }
    const result = await this.inner.load(nquads);
    if (result.kind === 'success') this.acknowledged.push(nquads);
    else this.failed.push(nquads);
    return result;
  }

  async dropGraph(graph: string): Promise<StoreResult> {
    this.attempts++;
    if (this.down || this.failNext > 0) {
      if (this.failNext > 0) this.failNext--;
      return { kind: 'retryable', error: new Error('store unavailable (injected)') };
    }
    return this.inner.dropGraph(graph);
  }

  query(sparql: string, format?: ResultFormat): Promise<QueryResponse> {
    return this.inner.query(sparql, format);
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
