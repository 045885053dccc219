/**
 * Counts the entries of one processing list this process is handling (taken, not yet finished in
 * Redis). A blocking BLMOVE whose reply is lost (the connection dropped after Redis had moved the
 * entry) leaves an entry in the processing list that nobody handles; after a take error the consumer
 * compares the list with these counts and handles the difference. Counting (not a set) keeps two
 * byte-identical entries (the same reply sent twice in one millisecond) apart.
 */
export class EntryTracker {
  private readonly counts = new Map<string, number>();

  add(raw: Buffer): void {
    const key = raw.toString('latin1');
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Called once the entries are finished in Redis (removed from the processing list). */
  remove(raws: readonly Buffer[]): void {
    for (const raw of raws) {
      const key = raw.toString('latin1');
      const left = (this.counts.get(key) ?? 0) - 1;
      if (left > 0) this.counts.set(key, left);
      else this.counts.delete(key);
    }
  }

  /** The entries of `list` beyond what is being handled: taken by a lost reply, to handle now. */
  untracked(list: readonly Buffer[]): Buffer[] {
    const seen = new Map<string, number>();
    const out: Buffer[] = [];
    for (const raw of list) {
      const key = raw.toString('latin1');
      const n = (seen.get(key) ?? 0) + 1;
      seen.set(key, n);
      if (n > (this.counts.get(key) ?? 0)) out.push(raw);
    }
    return out;
  }

  get size(): number {
    return this.counts.size;
  }
}
