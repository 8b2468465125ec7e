{{/* The CSI driver name: fixed, it must match what the plugin reports in GetPluginInfo. */}}
{{- define "interposer.driverName" -}}interposer.csi.dev{{- end }}

{{- define "interposer.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "interposer.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "interposer.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: csi-node
{{- end }}

{{- define "interposer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}{{ default (include "interposer.fullname" .) .Values.serviceAccount.name }}
{{- else }}{{ default "default" .Values.serviceAccount.name }}{{ end }}
{{- end }}

{{/* image: registry prefix (if any) + repository:tag. Call with (list $ .repository .tag). */}}
{{- define "interposer.image" -}}
{{- $root := index . 0 -}}
{{- $ref := printf "%s:%s" (index . 1) (index . 2) -}}
{{- if $root.Values.imageRegistry }}{{ printf "%s/%s" (trimSuffix "/" $root.Values.imageRegistry) $ref }}{{ else }}{{ $ref }}{{ end }}
{{- end }}

{{/* Directory on the node holding the plugin's socket, registered with kubelet. */}}
{{- define "interposer.pluginDir" -}}{{ .Values.kubeletDir }}/plugins/{{ include "interposer.driverName" . }}{{- end }}
