// Package responses translates OpenAI's Responses API (POST /v1/responses)
// to and from the gateway's hub, OpenAI chat completions JSON extended with
// reasoning_content, thinking_blocks and cache_control. It is made of pure
// functions and small types and imports nothing of Polygate but package
// openai:
//
//   - [ToChat] turns a Responses request into a hub chat completion request
//     and keeps what the answer must echo ([Request]).
//   - [FromChat] turns a hub chat.completion into a Response object.
//   - [Stream] turns hub chat.completion.chunk events, one at a time, into
//     Responses server-sent events, in the order the Responses API emits them.
//   - [Replay] turns a stored Response object back into the event sequence a
//     live stream would have sent (for the response cache).
//   - [RequestTexts], [ResponseTexts], [ResponseUsage] and [EventUsage] read
//     texts and token counts for guardrails, tokenizers and accounting; the
//     readers also take bodies and events straight from OpenAI.
//   - [ConversationRef] and [OutputMessages] serve the conversation the
//     gateway keeps for previous_response_id and conversation: ToChat takes
//     it as history, and a turn adds Request.Messages and the answer's
//     OutputMessages to it.
//
// Reasoning: the hub's reasoning_content becomes a reasoning item whose
// summary is that text. Signed thinking blocks (thinking_blocks) and the
// provider data of tool calls (extra_content, e.g. Gemini thought signatures)
// travel in the reasoning item's encrypted_content, an opaque string a client
// sends back unchanged on the next turn, where ToChat restores them.
package responses
