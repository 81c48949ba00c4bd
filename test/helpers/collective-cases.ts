/** Cases each rank of test/fixtures/collective-cases.ts reports, whatever the rank count (none silently skipped). */
export const COLLECTIVE_CASES = 173
