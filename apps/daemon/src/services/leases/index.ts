/** The Leases service: its local implementation, run beside the metadata store. */
export { type Lease, type LeaseResource, LeasesLocal, randomLeaseId } from "./local.ts";
