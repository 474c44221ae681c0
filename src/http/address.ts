/** The HTTP listener's address setting (OUTBOX_HTTP_ADDR), parsed. Pure; used by the config schema and the server. */
export interface HttpAddress {
  /** undefined: every interface. */
  host: string | undefined;
  port: number;
}

/** ":9464", "0.0.0.0:9464", "127.0.0.1:0", "[::1]:9464", "localhost:9464"; "off" → null. Pure. */
export function parseHttpAddr(value: string): HttpAddress | null | undefined {
  if (value === 'off') return null;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(value);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  const host = match[1] ?? match[2];
  return { host: host === '' ? undefined : host, port };
}
