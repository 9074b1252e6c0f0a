/** Imported first by main.ts: citty decides on colours when it loads, from the environment
 *  only, so a pipe or a file would get escape codes. */
if (!process.stdout.isTTY || !process.stderr.isTTY) process.env.NO_COLOR ??= "1";
