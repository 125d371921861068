// The sidebar's settings (Settings → qBraid API Keys): when a row shows a reminder badge.

export interface IPanelSettings {
  ageWarningDays: number;
  unusedWarningDays: number;
}

export const DEFAULT_SETTINGS: IPanelSettings = { ageWarningDays: 90, unusedWarningDays: 30 };
