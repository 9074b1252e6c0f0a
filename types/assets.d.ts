// Text imports (`with { type: "text" }`): embedded files such as SQL migrations.
declare module "*.sql" {
  const text: string;
  export default text;
}
