/** The BullMQ queue that carries write-behind's flush jobs (the changes themselves are in the change log). */
export const WRITE_BEHIND_QUEUE = 'write-behind-flush';
