package handlers

import (
	"context"
	"errors"

	"github.com/polygate/polygate/usage"
)

// UsageResponses is a ResponseStore in the usage database: recent
// responses in memory, written behind to the database, kept for the
// accounting's response_retention.
type UsageResponses struct{ Service *usage.Service }

// PutResponse implements ResponseStore.
func (u UsageResponses) PutResponse(r StoredResponse) {
	u.Service.PutResponse(r)
}

// GetResponse implements ResponseStore.
func (u UsageResponses) GetResponse(ctx context.Context, id, callerID string) (StoredResponse, bool, error) {
	r, err := u.Service.GetResponse(ctx, id, callerID)
	if errors.Is(err, usage.ErrResponseNotFound) {
		return StoredResponse{}, false, nil
	}
	if err != nil {
		return StoredResponse{}, false, err
	}
	return r, true, nil
}

// DeleteResponse implements ResponseStore.
func (u UsageResponses) DeleteResponse(ctx context.Context, id, callerID string) (bool, error) {
	err := u.Service.DeleteResponse(ctx, id, callerID)
	if errors.Is(err, usage.ErrResponseNotFound) {
		return false, nil
	}
	return err == nil, err
}

var _ ResponseStore = UsageResponses{}
