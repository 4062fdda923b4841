// Read-modify-write of the import's status subresource from the export Job, retried on 409.
// The Job only touches importConditions, diskImportStatus and progress: importStatus belongs to
// the functions and is always written back as read.
import { API_VERSION, KINDS, type VirtualMachineImportStatus } from '../../shared/api/index.ts';
import { isConflict, isNotFound, type Kube, type Obj } from '../../shared/kube/client.ts';

/** The import was deleted or replaced by a new one of the same name: the Job has nothing to do. */
export class ImportGoneError extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'ImportGoneError';
  }
}

const MAX_ATTEMPTS = 8;

export class ImportStatusWriter {
  constructor(
    private readonly kube: Kube,
    readonly namespace: string,
    readonly name: string,
    readonly uid: string,
  ) {}

  async read(): Promise<Obj> {
    let current: Obj;
    try {
      current = await this.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', this.namespace, this.name);
    } catch (e) {
      if (isNotFound(e)) throw new ImportGoneError(`import ${this.namespace}/${this.name} was deleted`);
      throw e;
    }
    if (this.uid && current.metadata?.uid !== this.uid)
      throw new ImportGoneError(
        `import ${this.namespace}/${this.name} was re-created (uid ${current.metadata?.uid})`,
      );
    return current;
  }

  /**
   * Applies `mutate` to the current status and writes it; on a conflict re-reads and applies
   * again. `mutate` returning undefined means "nothing to write". Returns the status written.
   */
  async update(
    mutate: (status: VirtualMachineImportStatus) => VirtualMachineImportStatus | undefined,
  ): Promise<VirtualMachineImportStatus> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.read();
      const status = (current.status ?? {}) as VirtualMachineImportStatus;
      const next = mutate(structuredClone(status));
      if (!next) return status;
      const written = { ...next, importStatus: status.importStatus };
      try {
        await this.kube.replaceStatus({ ...current, status: written }, KINDS.VirtualMachineImport.plural);
        return written;
      } catch (e) {
        if (isNotFound(e)) throw new ImportGoneError(`import ${this.namespace}/${this.name} was deleted`);
        if (!isConflict(e) || attempt >= MAX_ATTEMPTS) throw e;
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  }
}
