import { it, expect } from "vitest";
import { backend, connect, createTenant, names, readReply } from "./helpers.ts";

it("explore", async () => {
  const t = await createTenant("explore", { backends: [backend.weather(), backend.notes(), backend.everything()] });
  const s = await connect(t.id);
  console.log(JSON.stringify(s.initializeResult).slice(0, 400));
  const { response, reply } = await s.request("tools/list");
  console.log(reply.sse, names(response.result!.tools));
  const r = await s.request("tools/call", { name: "weather__get_forecast", arguments: { city: "Berlin", days: 2 } });
  console.log(JSON.stringify(r.reply.events).slice(0, 600));
  const p = await s.request("prompts/list");
  console.log(names(p.response.result!.prompts));
  const rt = await s.request("resources/templates/list");
  console.log(JSON.stringify(rt.response.result).slice(0, 600));
});
