package responses

import (
	"encoding/json"
	"fmt"

	"github.com/tidwall/gjson"
)

// FromChat translates a hub chat.completion (its JSON) into the Response
// object answering req. Choice 0 gives the output, in the order a stream of
// the same answer gives it: a reasoning item (summary from
// reasoning_content, encrypted_content carrying thinking_blocks), the
// message (output_text, then a refusal part), the function calls, each
// preceded by a reasoning item carrying its extra_content when it has one
// and no reasoning item is open. finish_reason "length" makes the Response
// incomplete with reason max_output_tokens, "content_filter" incomplete with
// reason content_filter, anything else completed. The model is the
// completion's (the request's when it has none).
func FromChat(chat []byte, req *Request) ([]byte, error) {
	var c hubCompletion
	if err := json.Unmarshal(chat, &c); err != nil {
		return nil, fmt.Errorf("reading the chat completion: %w", err)
	}
	s := NewStream(req)
	s.quiet, s.started = true, true
	if c.Model != "" {
		s.st.model = c.Model
	}
	s.st.serviceTier = c.ServiceTier
	var ch *hubChoice
	for i := range c.Choices {
		if c.Choices[i].Index == 0 {
			ch = &c.Choices[i]
			break
		}
	}
	if c.Usage != nil {
		s.usage, s.hasUsage = c.Usage.usage(), true
	}
	if ch == nil {
		s.terminal()
		return s.resp, nil
	}
	m := &ch.Message
	if m.ReasoningContent != nil {
		s.reasoningDelta(*m.ReasoningContent)
	}
	for _, b := range m.ThinkingBlocks {
		if tb := gjson.ParseBytes(b); tb.IsObject() {
			s.thinkingBlock(tb)
		}
	}
	if len(m.Annotations) > 0 {
		s.annotations = appendAnnotations(nil, gjson.ParseBytes(m.Annotations))
	}
	var logprobs gjson.Result
	if ch.Logprobs != nil && len(ch.Logprobs.Content) > 0 {
		logprobs = gjson.ParseBytes(ch.Logprobs.Content)
	}
	s.contentDelta(m.Content.String(), logprobs)
	if m.Refusal != nil {
		s.refusalDelta(*m.Refusal)
	}
	for i, tc := range m.ToolCalls {
		s.toolCall(i, tc.ID, tc.Function.Name, tc.Function.Arguments, tc.ExtraContent)
	}
	s.finish(ch.FinishReason)
	s.terminal()
	return s.resp, nil
}
