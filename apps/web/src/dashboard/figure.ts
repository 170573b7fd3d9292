/**
 * How the dashboard writes a number: an integer as it is, anything else to 4 significant digits
 * without trailing zeros (0.1, 0.9, 1.526e-5 as 0.00001526, 2.3456789 as 2.346).
 */

export function figure(value: number): string {
  return Number.isInteger(value) ? String(value) : Number(value.toPrecision(4)).toString();
}
