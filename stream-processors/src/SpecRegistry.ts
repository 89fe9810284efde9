/** The prospective specs known to a process, kept current from the specs topic. */
import type { CompiledSpec } from '@provml/schemas';

/** Latest compiled spec of each workflow. */
export class SpecRegistry {
  private readonly specs = new Map<string, CompiledSpec>();

  get(workflow: string): CompiledSpec | undefined {
    return this.specs.get(workflow);
  }

  set(compiled: CompiledSpec): void {
    this.specs.set(compiled.spec.workflow, compiled);
  }

  /** Workflow ids known, in registration order. */
  workflows(): string[] {
    return [...this.specs.keys()];
  }
}
