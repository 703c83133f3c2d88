{{/* Chart name, truncated to 63 characters. */}}
{{- define "lms.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name of the proxy objects. Release named like the chart ("lms") -> "lms"; any other
release, e.g. "prod" -> "prod-lms". fullnameOverride wins. The orchestrator objects
append "-orchestrator", so this is kept to 50 characters.
*/}}
{{- define "lms.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if eq $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lms.orchestrator.fullname" -}}
{{- printf "%s-orchestrator" (include "lms.fullname" .) -}}
{{- end -}}

{{- define "lms.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels common to every object. */}}
{{- define "lms.labels" -}}
helm.sh/chart: {{ include "lms.chart" . }}
app.kubernetes.io/name: {{ include "lms.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lms
{{- end -}}

{{/* Selector labels; $component is "proxy" or "orchestrator". */}}
{{- define "lms.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lms.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lms.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lms.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The proxy's source dialect; refused when empty. */}}
{{- define "lms.sourceDialect" -}}
{{- required "lms.sourceDialect is required: set it to postgres, mysql or cockroach (--set lms.sourceDialect=postgres)" .Values.lms.sourceDialect -}}
{{- end -}}

{{/* Image of the proxy: lms.image overrides the top-level image field by field. */}}
{{- define "lms.proxyImage" -}}
{{- $img := .Values.lms.image | default dict -}}
{{- $repo := $img.repository | default .Values.image.repository -}}
{{- $tag := $img.tag | default .Values.image.tag | default .Chart.AppVersion -}}
{{- printf "%s:%s" $repo (toString $tag) -}}
{{- end -}}

{{- define "lms.proxyPullPolicy" -}}
{{- $img := .Values.lms.image | default dict -}}
{{- $img.pullPolicy | default .Values.image.pullPolicy | default "IfNotPresent" -}}
{{- end -}}

{{- define "lms.orchestratorImage" -}}
{{- printf "%s:%s" .Values.image.repository (toString (.Values.image.tag | default .Chart.AppVersion)) -}}
{{- end -}}

{{/* "true" when the list of EnvVar in .env names .name with a non-empty value or valueFrom. */}}
{{- define "lms.envHas" -}}
{{- $found := false -}}
{{- range .env -}}
{{- if and (eq .name $.name) (or .value .valueFrom) -}}
{{- $found = true -}}
{{- end -}}
{{- end -}}
{{- if $found -}}true{{- end -}}
{{- end -}}

{{/* Probe scheme of the proxy metrics port: HTTPS when LMS_SSL_CERT is given. */}}
{{- define "lms.proxyScheme" -}}
{{- if include "lms.envHas" (dict "env" .Values.lms.env "name" "LMS_SSL_CERT") -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{- define "lms.orchestratorScheme" -}}
{{- if include "lms.envHas" (dict "env" .Values.orchestrator.env "name" "ORCH_TLS_CERT") -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{- define "lms.proxyConfigSecret" -}}
{{- .Values.lms.configSecretName | default (printf "%s-config" (include "lms.fullname" .)) -}}
{{- end -}}

{{- define "lms.orchestratorConfigSecret" -}}
{{- .Values.orchestrator.configSecretName | default (printf "%s-config" (include "lms.orchestrator.fullname" .)) -}}
{{- end -}}
