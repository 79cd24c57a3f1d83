{{/* Names, labels and shared pod fragments. */}}

{{- define "devskyy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* release-chart, or the release name alone when it already holds the chart name. */}}
{{- define "devskyy.fullname" -}}
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

{{/* Name of a component's resources: <fullname>-<component>. */}}
{{- define "devskyy.componentName" -}}
{{- printf "%s-%s" (include "devskyy.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "devskyy.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "devskyy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: devskyy
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a component; pass (dict "root" $ "component" "operator"). */}}
{{- define "devskyy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "devskyy.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "devskyy.componentLabels" -}}
{{ include "devskyy.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* repository:tag@digest, repository:tag or repository@digest; tag defaults to appVersion. */}}
{{- define "devskyy.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag -}}
{{- if and .image.digest (not .image.tag) -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else if .image.digest -}}
{{- printf "%s:%s@%s" .image.repository $tag .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "devskyy.taskServiceAccountName" -}}
{{- default (include "devskyy.componentName" (dict "root" . "component" "task")) .Values.tasks.serviceAccount.name -}}
{{- end -}}

{{- define "devskyy.watchNamespace" -}}
{{- default .Release.Namespace .Values.operator.watchNamespace -}}
{{- end -}}

{{/* Secret that holds the in-chart Redis password. */}}
{{- define "devskyy.redisPasswordSecret" -}}
{{- default (include "devskyy.componentName" (dict "root" . "component" "redis")) .Values.redis.internal.auth.existingSecret -}}
{{- end -}}

{{/* Pod Security "restricted": the same for every pod of the chart. */}}
{{- define "devskyy.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "devskyy.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Environment of the control containers: the non-secret settings ConfigMap plus
the Redis URL (and, with the history, the PostgreSQL URL) by reference, under
the seed's names. With an in-chart store the URL is assembled by the kubelet
from the password Secret ($(VAR) expansion), so it is never stored.
*/}}
{{- define "devskyy.controlEnv" -}}
envFrom:
  - configMapRef:
      name: {{ include "devskyy.componentName" (dict "root" . "component" "settings") }}
env:
{{- include "devskyy.redisEnv" . }}
{{- end -}}

{{- define "devskyy.redisEnv" -}}
{{- if .Values.redis.internal.enabled }}
  - name: REDIS_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "devskyy.redisPasswordSecret" . }}
        key: {{ .Values.redis.internal.auth.passwordKey }}
  - name: REDIS_URL
    value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:6379/0" (include "devskyy.componentName" (dict "root" . "component" "redis")) | quote }}
{{- else }}
  - name: REDIS_URL
    valueFrom:
      secretKeyRef:
        name: {{ required "redis.existingSecret is required unless redis.internal.enabled" .Values.redis.existingSecret }}
        key: {{ .Values.redis.urlKey }}
{{- end }}
{{- end -}}

{{/* DATABASE_URL (env list items), for the writer, the migrations and the API. */}}
{{- define "devskyy.databaseEnv" -}}
{{- if .Values.database.internal.enabled }}
  - name: POSTGRES_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "devskyy.postgresPasswordSecret" . }}
        key: {{ .Values.database.internal.auth.passwordKey }}
  - name: DATABASE_URL
    value: {{ printf "postgresql://devskyy:$(POSTGRES_PASSWORD)@%s:5432/devskyy" (include "devskyy.componentName" (dict "root" . "component" "postgres")) | quote }}
{{- else }}
  - name: DATABASE_URL
    valueFrom:
      secretKeyRef:
        name: {{ required "database.existingSecret is required unless database.internal.enabled" .Values.database.existingSecret }}
        key: {{ .Values.database.urlKey }}
{{- end }}
{{- end -}}

{{/* Secret that holds the in-chart PostgreSQL password. */}}
{{- define "devskyy.postgresPasswordSecret" -}}
{{- default (include "devskyy.componentName" (dict "root" . "component" "postgres")) .Values.database.internal.auth.existingSecret -}}
{{- end -}}

{{/* Writable /tmp for a read-only root filesystem. */}}
{{- define "devskyy.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "devskyy.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Scheduling fields of a component; pass (dict "root" $ "component" "api" "values" .Values.api). */}}
{{- define "devskyy.scheduling" -}}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
{{- range . }}
  - {{ toYaml (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" (include "devskyy.selectorLabels" $ | fromYaml)))) | nindent 4 | trim }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
checkov skips of a control Deployment, each with its reason, as checkov reads
them from annotations. Pass (dict "image" <image values> "token" <bool>).
*/}}
{{- define "devskyy.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_35=Settings are read from the environment (pydantic-settings); the value comes by secretKeyRef and never enters the manifest.
{{- if not .image.digest }}
checkov.io/skip2: CKV_K8S_43=No digest exists before the image is built; set the digest value per release (skaffold does) and this check runs.
{{- end }}
{{- if .token }}
checkov.io/skip3: CKV_K8S_38=This component talks to the Kubernetes API (least-privilege Role); it needs its token.
{{- end }}
{{- end -}}

{{/* Health and metrics ports of operator/bridge as env items (listed under env:). */}}
{{- define "devskyy.portEnv" -}}
- name: DEVSKYY_HEALTH_PORT
  value: {{ .health | quote }}
- name: DEVSKYY_METRICS_PORT
  value: {{ .metrics | quote }}
{{- end -}}
