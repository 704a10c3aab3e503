/** How a campaign's split and measured lift are said to people (CLI, report, README). */

/** "450 delivered, 50 held out as control (10 %)", or why there is no control group. */
export function controlSplitWords(control: { share: number; rows: number }, delivered: number): string {
  if (control.share <= 0)
    return `${delivered.toLocaleString('en-US')} delivered, no control group: lift cannot be measured`;
  const pct = Math.round(control.share * 1000) / 10;
  return `${delivered.toLocaleString('en-US')} delivered, ${control.rows.toLocaleString('en-US')} held out as control (${pct} %)`;
}
