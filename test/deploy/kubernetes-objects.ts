import { z } from 'zod';

// Only the parts of the Kubernetes objects these tests read; everything else passes through.
export const metadataSchema = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().min(1).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});
export const manifestSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: metadataSchema,
});

export const envVarSchema = z.strictObject({
  name: z.string(),
  value: z.string().optional(),
  valueFrom: z
    .strictObject({
      secretKeyRef: z.strictObject({ name: z.string(), key: z.string(), optional: z.boolean().optional() }).optional(),
      configMapKeyRef: z
        .strictObject({ name: z.string(), key: z.string(), optional: z.boolean().optional() })
        .optional(),
    })
    .optional(),
});
export const probeSchema = z.looseObject({
  httpGet: z.looseObject({ path: z.string(), port: z.union([z.string(), z.number()]) }).optional(),
  exec: z.strictObject({ command: z.array(z.string()) }).optional(),
  periodSeconds: z.number().optional(),
  timeoutSeconds: z.number().optional(),
  failureThreshold: z.number().optional(),
});
export const containerSecuritySchema = z.looseObject({
  allowPrivilegeEscalation: z.boolean().optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  runAsNonRoot: z.boolean().optional(),
  runAsUser: z.number().optional(),
});
export const quantitiesSchema = z.strictObject({ cpu: z.string(), memory: z.string() });
export const containerSchema = z.looseObject({
  name: z.string(),
  image: z.string(),
  command: z.array(z.string()),
  env: z.array(envVarSchema).default([]),
  envFrom: z.array(z.strictObject({ configMapRef: z.strictObject({ name: z.string() }) })).default([]),
  ports: z.array(z.looseObject({ name: z.string().optional(), containerPort: z.number() })).default([]),
  livenessProbe: probeSchema.optional(),
  readinessProbe: probeSchema.optional(),
  startupProbe: probeSchema.optional(),
  resources: z.strictObject({ requests: quantitiesSchema, limits: quantitiesSchema }),
  securityContext: containerSecuritySchema.default({}),
  volumeMounts: z
    .array(
      z.looseObject({
        name: z.string(),
        mountPath: z.string(),
        readOnly: z.boolean().optional(),
        subPath: z.string().optional(),
      }),
    )
    .default([]),
});
export const volumeSchema = z.looseObject({
  name: z.string(),
  configMap: z
    .looseObject({ name: z.string(), items: z.array(z.strictObject({ key: z.string(), path: z.string() })).optional() })
    .optional(),
  emptyDir: z.looseObject({}).optional(),
  secret: z
    .looseObject({
      secretName: z.string(),
      items: z.array(z.strictObject({ key: z.string(), path: z.string() })).optional(),
    })
    .optional(),
});
export const deploymentSchema = z.looseObject({
  kind: z.literal('Deployment'),
  metadata: metadataSchema,
  spec: z.looseObject({
    replicas: z.number().int().positive(),
    selector: z.looseObject({ matchLabels: z.record(z.string(), z.string()) }),
    template: z.looseObject({
      metadata: z.looseObject({ labels: z.record(z.string(), z.string()) }),
      spec: z.looseObject({
        serviceAccountName: z.string().optional(),
        automountServiceAccountToken: z.boolean().optional(),
        terminationGracePeriodSeconds: z.number().optional(),
        securityContext: containerSecuritySchema.default({}),
        containers: z.array(containerSchema).length(1),
        volumes: z.array(volumeSchema).default([]),
      }),
    }),
  }),
});
export const configMapSchema = z.looseObject({
  kind: z.literal('ConfigMap'),
  metadata: metadataSchema,
  data: z.record(z.string(), z.string()),
});
export const serviceSchema = z.looseObject({
  kind: z.literal('Service'),
  metadata: metadataSchema,
  spec: z.looseObject({
    type: z.string(),
    selector: z.record(z.string(), z.string()),
    ports: z.array(z.looseObject({ port: z.number(), targetPort: z.union([z.string(), z.number()]) })).min(1),
  }),
});
export const roleSchema = z.looseObject({
  kind: z.literal('Role'),
  metadata: metadataSchema,
  rules: z.array(
    z.strictObject({
      apiGroups: z.array(z.string()),
      resources: z.array(z.string()),
      resourceNames: z.array(z.string()).optional(),
      verbs: z.array(z.string()),
    }),
  ),
});
export const roleBindingSchema = z.looseObject({
  kind: z.literal('RoleBinding'),
  metadata: metadataSchema,
  roleRef: z.strictObject({ apiGroup: z.string(), kind: z.string(), name: z.string() }),
  subjects: z.array(z.looseObject({ kind: z.string(), name: z.string(), namespace: z.string().optional() })),
});
export const kustomizationSchema = z.looseObject({
  resources: z.array(z.string()),
  images: z.array(z.looseObject({ name: z.string() })).default([]),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type Deployment = z.infer<typeof deploymentSchema>;
export type Container = Deployment['spec']['template']['spec']['containers'][number];
