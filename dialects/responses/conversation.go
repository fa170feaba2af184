package responses

import (
	"strings"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// ConversationRef returns the stored state a Responses request continues:
// its previous_response_id and its conversation (the id, whether given as a
// string or as {"id":…}); "" when absent. The gateway loads that
// conversation and hands its hub messages to ToChat as history.
func ConversationRef(body []byte) (previousResponseID, conversation string) {
	r := gjson.GetManyBytes(body, "previous_response_id", "conversation")
	previousResponseID = r[0].Str
	if c := r[1]; c.Type == gjson.String {
		conversation = c.Str
	} else if c.IsObject() {
		conversation = c.Get("id").Str
	}
	return previousResponseID, conversation
}

// OutputMessages returns, as a JSON array, the hub messages of a Response
// object's output: what a client sending that output back as input would
// give, so that a stored conversation grows by Request.Messages and then
// OutputMessages of the answer (FromChat's result, or Stream.Response after
// the terminal event). Output items this package does not translate
// (OpenAI's built-in tool calls) are a 400 naming them, as in a request.
func OutputMessages(response []byte) ([]byte, *openai.Error) {
	output := gjson.GetBytes(response, "output")
	if !output.IsArray() {
		return []byte("[]"), nil
	}
	if text, ok := onlyText(output); ok {
		return append(openai.AppendString([]byte(`[{"role":"assistant","content":`), text), "}]"...), nil
	}
	msgs, err := convertInput(output, "")
	if err != nil {
		if strings.HasPrefix(err.Param, "input") {
			err.Param = "output" + err.Param[len("input"):]
		}
		return nil, err
	}
	if msgs == nil {
		msgs = []any{}
	}
	return marshal(msgs)
}

// onlyText returns the text of an output that is one assistant message
// with one plain output_text part, the usual answer, whose hub message is
// built without the general conversion.
func onlyText(output gjson.Result) (text string, ok bool) {
	item, ok := soleObject(output)
	if !ok {
		return "", false
	}
	var content gjson.Result
	var message, assistant bool
	item.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "type":
			message = v.Str == "message"
		case "role":
			assistant = v.Str == openai.RoleAssistant
		case "content":
			content = v
		}
		return true
	})
	if !message || !assistant || !content.IsArray() {
		return "", false
	}
	part, ok := soleObject(content)
	if !ok {
		return "", false
	}
	var textValue gjson.Result
	plain, typed := true, false
	part.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "type":
			typed = true
			plain = plain && v.Str == "output_text"
		case "text":
			textValue = v
		case "prompt_cache_breakpoint":
			plain = false
		}
		return plain
	})
	if !plain || !typed || textValue.Type != gjson.String {
		return "", false
	}
	return textValue.Str, true
}

// soleObject returns the element of an array that holds one object and
// nothing else.
func soleObject(arr gjson.Result) (gjson.Result, bool) {
	var only gjson.Result
	n := 0
	arr.ForEach(func(_, v gjson.Result) bool {
		only, n = v, n+1
		return n < 2
	})
	return only, n == 1 && only.IsObject()
}
