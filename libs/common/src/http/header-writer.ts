/** Either adapter's response object: both Express and Fastify have `header(name, value)` and `status(code)`. */
export interface HeaderWriter {
  header(name: string, value: string): unknown;
  status(code: number): unknown;
}
