/**
 * PowerShell's Format-List layout, as a Windows console shows the output of
 * Get-NetVirtualization*: one "Name : Value" line per property, names padded to the
 * longest name, a blank line before the first object and after each, and one more at
 * the end. Booleans print as True/False.
 */
import type { AnyItem } from '../client/types.js';
import type { NounSpec } from './cmdlets.js';

export type Properties = readonly (readonly [string, string])[];

export interface FormatOptions {
  /** InterfaceIndex of a gateway interface, when the map file names one. */
  interfaceIndex?: (name: string) => string | undefined;
}

function show(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value === undefined || value === null) return '';
  return String(value);
}

/** The HNV properties of one item, in the order Windows shows them. */
export function hnvProperties(noun: NounSpec, item: AnyItem, options: FormatOptions = {}): Properties {
  const record = item as unknown as Record<string, unknown>;
  return noun.properties.map(([name, field]) => {
    if (field === 'interfaceIndex') return [name, options.interfaceIndex?.(String(record.interface)) ?? ''] as const;
    return [name, show(record[field])] as const;
  });
}

export function formatList(objects: readonly Properties[]): string {
  if (objects.length === 0) return '';
  const blocks = objects.map((props) => {
    const width = Math.max(...props.map(([name]) => name.length));
    return props.map(([name, value]) => `${name.padEnd(width)} : ${value}`).join('\n');
  });
  return `\n${blocks.join('\n\n')}\n\n\n`;
}
