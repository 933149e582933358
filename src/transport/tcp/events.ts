/** What TCP needs of a waiter queue: to be told when readiness changes (`waiter.Queue` has it). */
export { EventErr, EventHUp, EventIn, EventOut } from "../../waiter/waiter.ts";

export interface Notifier {
  notify(mask: number): void;
}
