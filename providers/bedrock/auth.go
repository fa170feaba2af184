package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// Signing and credential defaults.
const (
	// signingName is the SigV4 service name of bedrock-runtime.
	signingName = "bedrock"
	// DefaultRoleSessionName names the session of an assumed role.
	DefaultRoleSessionName = "polygate"
	// loadTimeout bounds loading the SDK's configuration at the first
	// request (shared files, no network).
	loadTimeout = 10 * time.Second
)

// auth resolves, at the first request, the region, the endpoint and the
// credentials, and signs requests with them. Everything it resolves is
// cached; credentials are refreshed by aws.CredentialsCache before they
// expire. A failed resolution is not cached: the next request tries again.
type auth struct {
	region, base                               string // configured; base empty means the regional default
	profile                                    string
	accessKeyID, secretAccessKey, sessionToken string
	roleARN, roleSessionName, externalID       string
	apiKey                                     string

	mu       sync.Mutex
	resolved *endpoint
}

// endpoint is what a request needs: where to go and how to sign.
type endpoint struct {
	base, region string
	apiKey       string
	creds        aws.CredentialsProvider // nil with an API key
	signer       *v4.Signer
	used         aws.Credentials // the last credentials signed with, for scrubbing
	usedMu       sync.Mutex
}

// endpoint returns the resolved endpoint, resolving it on first use.
func (a *auth) endpoint(ctx context.Context, name string) (*endpoint, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.resolved != nil {
		return a.resolved, nil
	}
	ep, err := a.resolve(ctx)
	if err != nil {
		return nil, unavailable(fmt.Sprintf("provider %q could not set up AWS access: %s", name, shortCause(err)))
	}
	a.resolved = ep
	return ep, nil
}

func (a *auth) resolve(ctx context.Context) (*endpoint, error) {
	ep := &endpoint{region: a.region, base: a.base, apiKey: a.apiKey, signer: v4.NewSigner()}
	var static aws.CredentialsProvider
	if a.accessKeyID != "" {
		static = credentials.NewStaticCredentialsProvider(a.accessKeyID, a.secretAccessKey, a.sessionToken)
	}
	needConfig := a.apiKey == "" && (static == nil || a.roleARN != "") || ep.region == ""
	if needConfig {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		var opts []func(*config.LoadOptions) error
		if ep.region != "" {
			opts = append(opts, config.WithRegion(ep.region))
		}
		if a.profile != "" {
			opts = append(opts, config.WithSharedConfigProfile(a.profile))
		}
		if static != nil {
			opts = append(opts, config.WithCredentialsProvider(static))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("loading the AWS configuration: %w", err)
		}
		if ep.region == "" {
			ep.region = cfg.Region
		}
		if a.apiKey == "" {
			ep.creds = cfg.Credentials
			if a.roleARN != "" {
				ep.creds = a.assumeRole(cfg)
			}
		}
	} else if a.apiKey == "" {
		ep.creds = aws.NewCredentialsCache(static)
	}
	if ep.region == "" {
		return nil, errors.New("no region: set region, AWS_REGION or the profile's region")
	}
	if !validRegion.MatchString(ep.region) {
		return nil, fmt.Errorf("region %q is not an AWS region name", ep.region)
	}
	if a.apiKey == "" && ep.creds == nil {
		return nil, errors.New("no AWS credentials found")
	}
	if ep.base == "" {
		ep.base = defaultBaseURL(ep.region)
	}
	return ep, nil
}

// assumeRole wraps cfg's credentials into an STS AssumeRole provider.
func (a *auth) assumeRole(cfg aws.Config) aws.CredentialsProvider {
	name := a.roleSessionName
	if name == "" {
		name = DefaultRoleSessionName
	}
	prov := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), a.roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = name
		if a.externalID != "" {
			o.ExternalID = aws.String(a.externalID)
		}
	})
	return aws.NewCredentialsCache(prov)
}

// defaultBaseURL is the regional bedrock-runtime endpoint.
func defaultBaseURL(region string) string {
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://bedrock-runtime." + region + "." + suffix
}

// unavailable is the error for credentials that cannot be had: 502, so
// routing tries another upstream.
func unavailable(msg string) error {
	return &providers.Error{Err: &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer,
		Code: "aws_credentials_unavailable", Message: msg}}
}

// sign adds the API key or the SigV4 signature (payload hash of body);
// name is the provider's, for errors.
func (e *endpoint) sign(ctx context.Context, r *http.Request, body []byte, name string) error {
	if e.apiKey != "" {
		r.Header.Set("Authorization", "Bearer "+e.apiKey)
		return nil
	}
	creds, err := e.creds.Retrieve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return context.Canceled
		}
		return unavailable(fmt.Sprintf("provider %q could not get AWS credentials: %s", name, shortCause(err)))
	}
	e.usedMu.Lock()
	e.used = creds
	e.usedMu.Unlock()
	sum := sha256.Sum256(body)
	if err := e.signer.SignHTTP(ctx, creds, r, hex.EncodeToString(sum[:]), signingName, e.region, time.Now().UTC()); err != nil {
		return &providers.Error{Err: &openai.Error{Status: http.StatusInternalServerError, Type: openai.TypeServer,
			Code: "aws_signing_failed", Message: fmt.Sprintf("provider %q could not sign the request", name)}}
	}
	return nil
}

// scrub removes any credential from an error's message, in case an
// upstream or a proxy echoed one.
func (e *endpoint) scrub(err error) {
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err == nil {
		return
	}
	e.usedMu.Lock()
	c := e.used
	e.usedMu.Unlock()
	pe.Err.Message = redact(pe.Err.Message, e.apiKey, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
}

// redact replaces every occurrence of the secrets in s.
func redact(s string, secrets ...string) string {
	for _, v := range secrets {
		if len(v) >= 4 && strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// shortCause is the first line of err's message, at most 200 bytes: enough
// to say what failed, too little to carry a credential file's content.
func shortCause(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
