{{/* Names and labels every template shares. */}}

{{- define "modelkeeper.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "modelkeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "modelkeeper.labels" -}}
{{ include "modelkeeper.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "modelkeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modelkeeper.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* The Lease the replicas elect their leader by: leaderElection.leaseName or the release's. */ -}}
{{- define "modelkeeper.leaseName" -}}
{{- default (include "modelkeeper.fullname" .) .Values.leaderElection.leaseName -}}
{{- end }}

{{- define "modelkeeper.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The namespaces the operator watches: none in Cluster scope (all of them). */}}
{{- define "modelkeeper.watchNamespaces" -}}
{{- if eq .Values.rbac.scope "Namespaced" -}}
{{- default (list .Release.Namespace) .Values.watchNamespaces | uniq | join "," -}}
{{- end -}}
{{- end -}}
