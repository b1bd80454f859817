/** Reading deploy/kubernetes/*.yaml: every manifest, the proxy's container, its ports and variables. */
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { ENV_PREFIX } from '../../src/config/defaults.js';
import { readRepoFile } from './deploy-fixture.js';

export const MANIFESTS = ['deployment.yaml', 'service.yaml', 'podmonitor.yaml', 'hpa.yaml', 'vllm-headless.yaml'].map(
  (name) => `deploy/kubernetes/${name}`,
);

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { resourceFieldRef?: { resource: string; containerName?: string; divisor?: string | number } };
}
export interface ContainerPort {
  name?: string;
  containerPort: number;
}
export interface Probe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}
export interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; allowPrivilegeEscalation?: boolean };
}
export interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
}
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests of several kinds; each test narrows what it reads.
  spec: any;
}

export function loadManifests(): Manifest[] {
  const manifests: Manifest[] = [];
  for (const path of MANIFESTS) {
    for (const doc of parseAllDocuments(readRepoFile(path))) {
      assert.deepEqual(
        doc.errors.map((error) => error.message),
        [],
        `${path} parses`,
      );
      const value = doc.toJS() as Manifest | null;
      if (value === null) continue;
      assert.ok(value.apiVersion && value.kind && value.metadata?.name, `${path}: apiVersion, kind and metadata.name`);
      manifests.push(value);
    }
  }
  return manifests;
}

export function only(manifests: Manifest[], kind: string): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0] as Manifest;
}

/** The one manifest of `kind` whose `selects` holds (several Deployments and Services live side by side). */
export function onlyWhere(manifests: Manifest[], kind: string, what: string, selects: (manifest: Manifest) => boolean): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind && selects(manifest));
  assert.equal(found.length, 1, `exactly one ${kind}: ${what}`);
  return found[0] as Manifest;
}

const isProxy = (container: Container): boolean => container.env?.some((env) => env.name.startsWith(`${ENV_PREFIX}_`)) === true;

/** The Deployment that runs the proxy: its pod has a container configured with INFERENCE_PROXY_* variables. */
export const proxyDeployment = (manifests: Manifest[]): Manifest =>
  onlyWhere(manifests, 'Deployment', 'the proxy', (deployment) => (deployment.spec.template.spec as PodSpec).containers.some(isProxy));

export const podLabelsOf = (deployment: Manifest): Record<string, string> =>
  deployment.spec.template.metadata.labels as Record<string, string>;

/** The Service that selects the pods of `deployment`. */
export const serviceOf = (manifests: Manifest[], deployment: Manifest): Manifest =>
  onlyWhere(manifests, 'Service', `selecting the pods of ${deployment.metadata.name}`, (service) =>
    isSubset(service.spec.selector ?? {}, podLabelsOf(deployment)),
  );

export function proxyContainer(deployment: Manifest): { pod: PodSpec; container: Container; podLabels: Record<string, string> } {
  const pod = deployment.spec.template.spec as PodSpec;
  const container = pod.containers.find(isProxy);
  assert.ok(container, 'a container configured with INFERENCE_PROXY_* variables');
  return { pod, container, podLabels: podLabelsOf(deployment) };
}

/** A probe or Service port (a number or a port name) as a container port number. */
export function resolvePort(container: Container, port: string | number): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

export const envValue = (container: Container, flag: string): string | undefined =>
  container.env?.find((env) => env.name === `${ENV_PREFIX}_${flag.toUpperCase().replace(/-/g, '_')}`)?.value;

export const isSubset = (wanted: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(wanted).every(([key, value]) => labels[key] === value);
