/** The prospective specs known to a process, kept current from the specs topic. */
import { extendSpec, type CompiledSpec } from '@provml/schemas';

/** Each workflow's spec: its versions added up (`extendSpec`), so a later one never takes a name back. */
export class SpecRegistry {
  private readonly specs = new Map<string, CompiledSpec>();

  get(workflow: string): CompiledSpec | undefined {
    return this.specs.get(workflow);
  }

  /** Registers a version; answers the workflow's spec with it (what to publish as its latest). */
  set(compiled: CompiledSpec): CompiledSpec {
    const extended = extendSpec(this.specs.get(compiled.spec.workflow), compiled);
    this.specs.set(compiled.spec.workflow, extended);
    return extended;
  }

  /** Workflow ids known, in registration order. */
  workflows(): string[] {
    return [...this.specs.keys()];
  }
}
