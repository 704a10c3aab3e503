/** Event names become column names: lower snake_case of letters and digits ("Add To Cart" → add_to_cart). */
export function columnSafe(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return s.length ? s.slice(0, 40) : 'x';
}
