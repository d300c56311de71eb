/** Either adapter's response object: both Express and Fastify have `header(name, value)`. */
export interface HeaderWriter {
  header(name: string, value: string): unknown;
}
