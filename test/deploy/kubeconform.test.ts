import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { KUBERNETES_VERSIONS, kubeconform, kubernetesSchemaLocation, run } from './validators';

/*
 * kubeconform checks every object of deploy/kubernetes against the Kubernetes API's own schemas
 * (strict: unknown fields fail too), offline: the schemas come from PyPI's kubernetes-validate,
 * installed by tools/deploy-validators/install.sh.
 */

const dir = path.resolve(__dirname, '../../deploy/kubernetes');
const kustomization = parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
const files = kustomization.resources.map((file) => path.join(dir, file));
const objects = files.flatMap((file) => parseAllDocuments(readFileSync(file, 'utf8'))).filter((doc) => doc.contents);

describe('deploy/kubernetes against the Kubernetes API schemas (kubeconform, offline)', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'tw-kubeconform-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  interface Summary {
    resources: Array<{ filename: string; kind: string; name: string; status: string; msg: string }>;
    summary: { valid: number; invalid: number; errors: number; skipped: number };
  }
  /** -strict: unknown fields are errors too. A kind without a schema is an error, never skipped. */
  function validate(targets: readonly string[], version: string): { status: number | null; report: Summary } {
    const result = run(kubeconform(), [
      '-strict',
      '-summary',
      '-output',
      'json',
      '-kubernetes-version',
      version,
      '-schema-location',
      kubernetesSchemaLocation(),
      ...targets,
    ]);
    return { status: result.status, report: JSON.parse(result.stdout) as Summary };
  }

  it.each(KUBERNETES_VERSIONS)('validates every object against Kubernetes %s', (version) => {
    const { status, report } = validate(files, version);
    expect(report.resources).toEqual([]);
    expect(report.summary).toEqual({ valid: objects.length, invalid: 0, errors: 0, skipped: 0 });
    expect(status).toBe(0);
  });

  it('rejects a Deployment with a field of the wrong type, and one with a field Kubernetes does not know', () => {
    const original = readFileSync(path.join(dir, 'worker.yaml'), 'utf8');
    const wrongType = path.join(scratch, 'wrong-type.yaml');
    writeFileSync(wrongType, original.replace('replicas: 2', 'replicas: two'));
    const unknownField = path.join(scratch, 'unknown-field.yaml');
    writeFileSync(unknownField, original.replace('terminationGracePeriodSeconds: 90', 'terminationGracePeriod: 90'));
    for (const file of [wrongType, unknownField]) expect(readFileSync(file, 'utf8')).not.toBe(original);

    const { status, report } = validate([wrongType, unknownField], KUBERNETES_VERSIONS[0]!);
    expect(status).toBe(1);
    // kubeconform validates files in parallel: its report's order is not theirs.
    const invalid = Object.fromEntries(
      report.resources.map((resource) => [path.basename(resource.filename), `${resource.kind} ${resource.status}`]),
    );
    expect(invalid).toEqual({
      'wrong-type.yaml': 'Deployment statusInvalid',
      'unknown-field.yaml': 'Deployment statusInvalid',
    });
    const message = (file: string) => report.resources.find((resource) => resource.filename === file)?.msg;
    expect(message(wrongType)).toMatch(/\/spec\/replicas.*got string, want null or integer/);
    expect(message(unknownField)).toMatch(/additional properties 'terminationGracePeriod' not allowed/);
    // The PodDisruptionBudget beside each broken Deployment still passes.
    expect(report.summary).toMatchObject({ valid: 2, invalid: 2, errors: 0 });
  });
});
