// Types of run.mjs, for the example's own test (test/integration/chain/example.test.ts).
export interface DbState {
  charges: number;
  outboxRows: number;
  outboxPending: number;
  keys: number;
  ledgerEntries: number;
}

export interface ExampleResult {
  /** 'timed out' when the client gave up on the first attempt (as the example forces). */
  firstAttempt: string;
  afterTimeout: DbState;
  retry: { status: number; replayed: boolean; body: { chargeId: string; customer: string; amount: number } };
  relay1Signal: string | null;
  /** What the inbox did with each delivery, in order. */
  deliveries: ('processed' | 'duplicate')[];
  reuseStatus: number;
  kafkaMessages: number;
  final: DbState;
  balances: Record<string, number>;
}

export function runExample(options: {
  databaseUrl: string;
  kafkaBrokers: string;
  schema?: string;
  say?: (line: string) => void;
  keepSchema?: boolean;
}): Promise<ExampleResult>;
