// The official `openai` npm package against vlmroute's gateway (tests/test_gateway.py).
// node openai_client.cjs BASE_URL chat|stream|error
const OpenAI = require("openai");

const [baseURL, mode] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const request = {
  model: "glm-4.1v-thinking-flash",
  messages: [{ role: "user", content: "hi" }],
};

async function main() {
  if (mode === "chat") {
    const reply = await client.chat.completions.create(request);
    console.log(JSON.stringify({ answer: reply.choices[0].message.content, model: reply.model }));
  } else if (mode === "stream") {
    const stream = await client.chat.completions.create({ ...request, stream: true });
    let text = "";
    for await (const chunk of stream) {
      text += (chunk.choices[0] && chunk.choices[0].delta.content) || "";
    }
    console.log(JSON.stringify({ answer: text }));
  } else {
    try {
      await client.chat.completions.create(request);
      console.log(JSON.stringify({ error: null }));
    } catch (error) {
      console.log(
        JSON.stringify({
          error: error.constructor.name,
          rateLimit: error instanceof OpenAI.RateLimitError,
          status: error.status,
        }),
      );
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
