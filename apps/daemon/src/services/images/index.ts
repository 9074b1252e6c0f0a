/** The Images service: its local implementation, run beside the metadata store. */
export { type Image, type ImageInput, ImagesLocal, ImageTopic } from "./local.ts";
