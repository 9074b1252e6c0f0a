/** containerd's identifier rule for namespaces, containers, leases and topic components:
 *  alphanumeric runs joined by single `.`, `_` or `-`, at most 76 characters. */
import { failedPrecondition, invalidArgument } from "./errors/kinds.ts";

const MAX_LENGTH = 76;
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$/;

export function validateIdentifier(s: string): void {
  if (s === "") throw invalidArgument("identifier must not be empty");
  if (s.length > MAX_LENGTH)
    throw invalidArgument(`identifier "${s}" greater than maximum length (${MAX_LENGTH} characters)`);
  if (!IDENTIFIER.test(s)) throw invalidArgument(`identifier "${s}" must match ${IDENTIFIER.source}`);
}

/** Event topics: "/" followed by identifiers separated by "/". */
export function validateTopic(topic: string): void {
  if (topic === "") throw invalidArgument("must not be empty");
  if (!topic.startsWith("/")) throw invalidArgument("must start with '/'");
  if (topic.length === 1) throw invalidArgument("must have at least one component");
  for (const c of topic.slice(1).split("/")) {
    try {
      validateIdentifier(c);
    } catch (e) {
      throw invalidArgument(`failed validation on component "${c}": ${(e as Error).message}`);
    }
  }
}

/** containerd's NamespaceRequired: FailedPrecondition when absent, InvalidArgument when malformed. */
export function requireNamespace(value: string | undefined): string {
  if (value === undefined || value === "") throw failedPrecondition("namespace is required");
  try {
    validateIdentifier(value);
  } catch (e) {
    throw invalidArgument(`namespace validation: ${(e as Error).message}`);
  }
  return value;
}
