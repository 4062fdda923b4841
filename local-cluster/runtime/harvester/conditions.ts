// Harvester (rancher/norman style) conditions: type, status, reason, message, lastUpdateTime,
// lastTransitionTime (changed only when status changes).
export interface ImageCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

export function setCondition(status: { conditions?: ImageCondition[] }, c: ImageCondition): void {
  const list = status.conditions ?? [];
  const i = list.findIndex((x) => x.type === c.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: ImageCondition = {
    ...prev,
    ...c,
    lastTransitionTime:
      prev && prev.status === c.status
        ? prev.lastTransitionTime
        : (c.lastUpdateTime ?? new Date().toISOString()),
  };
  if (next.reason === undefined) delete next.reason;
  if (i >= 0) list[i] = next;
  else list.push(next);
  status.conditions = list;
}
