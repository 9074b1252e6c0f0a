/** The Tasks service: its local implementation, run beside the task manager in the runtime worker. */
export { TasksLocal } from "./local.ts";
