{{/*
Names, labels, images, and the environment every Switchyard container gets.
*/}}

{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<chart>", or the release name when it already holds the chart name. */}}
{{- define "switchyard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Selector labels; call with (dict "ctx" $ "component" "api"). */}}
{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels; call with (dict "ctx" $ "component" "api"). */}}
{{- define "switchyard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* An image reference; call with (dict "ctx" $ "image" .Values.api.image). */}}
{{- define "switchyard.image" -}}
{{- printf "%s:%s" .image.repository (default (default .ctx.Chart.AppVersion .ctx.Values.image.tag) .image.tag) -}}
{{- end -}}

{{- define "switchyard.schedulerServiceAccountName" -}}
{{- if .Values.scheduler.serviceAccount.create -}}
{{- default (printf "%s-scheduler" (include "switchyard.fullname" .)) .Values.scheduler.serviceAccount.name -}}
{{- else -}}
{{- required "scheduler.serviceAccount.name is required when scheduler.serviceAccount.create is false" .Values.scheduler.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "switchyard.workerServiceAccountName" -}}
{{- if .Values.worker.serviceAccount.create -}}
{{- default (printf "%s-worker" (include "switchyard.fullname" .)) .Values.worker.serviceAccount.name -}}
{{- else -}}
{{- required "worker.serviceAccount.name is required when worker.serviceAccount.create is false" .Values.worker.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The Secret holding a group of values.secrets: its existingSecret, else the one the chart
makes. Call with (dict "ctx" $ "group" "database").
*/}}
{{- define "switchyard.secretName" -}}
{{- $group := get .ctx.Values.secrets .group -}}
{{- $suffixes := dict "database" "database" "redis" "redis" "s3" "s3" "github" "github" "encryptionKeys" "encryption-keys" "signingKeys" "signing-keys" -}}
{{- if $group.existingSecret -}}
{{- $group.existingSecret -}}
{{- else -}}
{{- printf "%s-%s" (include "switchyard.fullname" .ctx) (get $suffixes .group) -}}
{{- end -}}
{{- end -}}

{{/* The config.toml of the ConfigMaps: config values as they are. */}}
{{- define "switchyard.configToml" -}}
{{ toToml .Values.config }}
{{- end -}}

{{/*
Environment of the api and the scheduler: the config file, then the secrets they read.
Call with (dict "ctx" $ "component" "api"); the api also gets the GitHub secret.
*/}}
{{- define "switchyard.env" -}}
{{- $s := .ctx.Values.secrets -}}
- name: SWITCHYARD_CONFIG
  value: /etc/switchyard/config.toml
- name: SWITCHYARD__DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.secretName" (dict "ctx" .ctx "group" "database") }}
      key: {{ $s.database.secretKeys.url }}
- name: SWITCHYARD__REDIS__URL
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.secretName" (dict "ctx" .ctx "group" "redis") }}
      key: {{ $s.redis.secretKeys.url }}
{{ include "switchyard.s3Env" .ctx }}
{{- if eq .component "api" }}
{{- range $field, $var := dict "clientSecret" "CLIENT_SECRET" "privateKey" "PRIVATE_KEY" "webhookSecret" "WEBHOOK_SECRET" }}
{{- if or (get $s.github $field) $s.github.existingSecret }}
- name: SWITCHYARD__GITHUB__{{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.secretName" (dict "ctx" $.ctx "group" "github") }}
      key: {{ get $s.github.secretKeys $field }}
      optional: true
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "switchyard.s3Env" -}}
- name: SWITCHYARD__S3__ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.secretName" (dict "ctx" . "group" "s3") }}
      key: {{ .Values.secrets.s3.secretKeys.accessKey }}
- name: SWITCHYARD__S3__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.secretName" (dict "ctx" . "group" "s3") }}
      key: {{ .Values.secrets.s3.secretKeys.secretKey }}
{{- end -}}

{{/* The key maps: every key of the Secret becomes SWITCHYARD__<SECTION>__<MAP>__<ID>. */}}
{{- define "switchyard.keyEnvFrom" -}}
- prefix: SWITCHYARD__SECRETS__KEYS__
  secretRef:
    name: {{ include "switchyard.secretName" (dict "ctx" . "group" "encryptionKeys") }}
- prefix: SWITCHYARD__AUTH__SIGNING_KEYS__
  secretRef:
    name: {{ include "switchyard.secretName" (dict "ctx" . "group" "signingKeys") }}
{{- end -}}

{{/* Volumes every pod of the chart mounts: the config and a writable /tmp. */}}
{{- define "switchyard.volumeMounts" -}}
- name: config
  mountPath: /etc/switchyard
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Call with (dict "configMap" NAME). */}}
{{- define "switchyard.volumes" -}}
- name: config
  configMap:
    name: {{ .configMap }}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end -}}

{{/* What worker pods get from the scheduler's Jobs: the ConfigMap and Secret of env. */}}
{{- define "switchyard.workerEnvName" -}}
{{- printf "%s-worker" (include "switchyard.fullname" .) -}}
{{- end -}}

{{- define "switchyard.workerSecretName" -}}
{{- default (include "switchyard.workerEnvName" .) .Values.secrets.workerEnv.existingSecret -}}
{{- end -}}

{{/*
The scalar settings of a map as SWITCHYARD__SECTION__KEY entries (worker pods read no
config file of the chart's, only their image's and this environment). Lists (such as
worker.agent_commands), and keys that cannot be part of a variable name, are left out:
the worker image's own config has the agent commands.
Helm numbers are float64, printed as integers here (no setting is fractional, and %v
would write 2592000 as 2.592e+06). Call with (dict "map" SETTINGS "prefix" "SWITCHYARD").
*/}}
{{- define "switchyard.flatEnv" -}}
{{- range $key, $value := .map }}
{{- $name := printf "%s__%s" $.prefix (upper $key) }}
{{- if not (regexMatch "^[A-Za-z0-9_]+$" $key) }}
{{- else if kindIs "map" $value }}
{{- include "switchyard.flatEnv" (dict "map" $value "prefix" $name) }}
{{- else if kindIs "slice" $value }}
{{- else if kindIs "float64" $value }}
{{ $name }}: {{ int64 $value | toString | quote }}
{{- else }}
{{ $name }}: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The scheduler's kubernetes backend settings that follow from other values (worker.sandbox
among them); as variables they override the same keys of config.toml.
*/}}
{{- define "switchyard.kubernetesEnv" -}}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: SWITCHYARD__SCHEDULER__KUBERNETES__LEADER__IDENTITY
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: SWITCHYARD__SCHEDULER__KUBERNETES__INSTANCE
  value: {{ .Release.Name | quote }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__WORKER_IMAGE
  value: {{ include "switchyard.image" (dict "ctx" . "image" .Values.worker.image) | quote }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__IMAGE_PULL_POLICY
  value: {{ .Values.image.pullPolicy | quote }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__SERVICE_ACCOUNT
  value: {{ include "switchyard.workerServiceAccountName" . | quote }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__WORKER_CONFIG_MAP
  value: {{ include "switchyard.workerEnvName" . | quote }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__WORKER_SECRET
  value: {{ include "switchyard.workerSecretName" . | quote }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__LEADER__LEASE_NAME
  value: {{ printf "%s-scheduler" (include "switchyard.fullname" .) | quote }}
{{- $sandbox := .Values.worker.sandbox }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__SANDBOX__UID
  value: {{ int64 $sandbox.uid | toString | quote }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__SANDBOX__SECCOMP_PROFILE
  value: {{ $sandbox.seccompProfile.type | quote }}
{{- with $sandbox.seccompProfile.localhostProfile }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__SANDBOX__SECCOMP_LOCALHOST_PROFILE
  value: {{ . | quote }}
{{- end }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__SANDBOX__APPARMOR_PROFILE
  value: {{ $sandbox.appArmorProfile.type | quote }}
{{- with $sandbox.appArmorProfile.localhostProfile }}
- name: SWITCHYARD__SCHEDULER__KUBERNETES__SANDBOX__APPARMOR_LOCALHOST_PROFILE
  value: {{ . | quote }}
{{- end }}
{{- end -}}
