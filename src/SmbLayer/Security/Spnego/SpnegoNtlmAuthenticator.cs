namespace SmbLayer.Security;

/// <summary>
/// SPNEGO (RFC 4178, MS-SPNG) offering only NTLMSSP, carrying an NTLMv2 exchange in SESSION_SETUP security
/// buffers. Leg 1: NegTokenInit with the NTLM NEGOTIATE. Leg 2: NegTokenResp with the AUTHENTICATE and a
/// mechListMIC (NTLM signature, client keys, sequence 0, over the DER MechTypeList we sent). Completion:
/// negState must be accept-completed and the server's mechListMIC, when present, must verify.
/// Never exposes the password, hashes or keys through exceptions or <see cref="ToString"/>.
/// </summary>
internal sealed class SpnegoNtlmAuthenticator : IAuthenticator
{
    private enum Stage
    {
        Start,
        SentInit,
        SentAuthenticate,
        Completed,
    }

    private readonly NtlmClient _ntlm;
    private readonly byte[] _mechTypeList = SpnegoTokens.EncodeMechTypeList(SpnegoTokens.NtlmsspOid);
    private Stage _stage;
    private bool _disposed;

    public SpnegoNtlmAuthenticator(string user, string domain, string password, string workstation)
        : this(new NtlmClient(user, domain, password, workstation))
    {
    }

    internal SpnegoNtlmAuthenticator(NtlmClient ntlm) => _ntlm = ntlm;

    /// <summary>An anonymous (null session) authenticator.</summary>
    public static SpnegoNtlmAuthenticator CreateAnonymous(string workstation = "") =>
        new(new NtlmClient("", "", "", workstation));

    /// <summary>Builds one from <see cref="SmbCredentials"/>; anonymous credentials give an anonymous authenticator.</summary>
    public static SpnegoNtlmAuthenticator FromCredentials(SmbCredentials credentials, string workstation)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        return credentials.IsAnonymous
            ? CreateAnonymous(workstation)
            : new SpnegoNtlmAuthenticator(credentials.UserName, credentials.Domain, credentials.Password, workstation);
    }

    public bool IsAnonymous => _ntlm.IsAnonymous;

    public ReadOnlySpan<byte> SessionKey => _ntlm.ExportedSessionKey;

    public byte[] Initiate(ReadOnlySpan<byte> negotiateToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_stage != Stage.Start)
        {
            throw new InvalidOperationException($"SPNEGO Initiate called in stage {_stage}.");
        }
        if (!negotiateToken.IsEmpty)
        {
            var offered = SpnegoTokens.DecodeNegTokenInitMechs(negotiateToken.ToArray());
            if (!offered.Contains(SpnegoTokens.NtlmsspOid))
            {
                throw new SmbSecurityException(
                    $"Server does not offer NTLMSSP in SPNEGO (offers {string.Join(", ", offered)}); no common authentication mechanism.");
            }
        }
        var negotiate = _ntlm.CreateNegotiate();
        _stage = Stage.SentInit;
        return SpnegoTokens.EncodeInitialNegTokenInit(_mechTypeList, negotiate);
    }

    public byte[] Continue(ReadOnlySpan<byte> serverToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_stage != Stage.SentInit)
        {
            throw new SmbProtocolException($"Unexpected SPNEGO continuation token in stage {_stage}; NTLM needs exactly one.");
        }
        var response = SpnegoTokens.DecodeNegTokenResp(serverToken.ToArray());
        switch (response.NegState)
        {
            case SpnegoNegState.Reject:
                throw new SmbSecurityException("Server rejected the SPNEGO negotiation (negState reject).");
            case SpnegoNegState.AcceptCompleted:
                throw new SmbProtocolException("Server sent SPNEGO accept-completed before NTLM authentication finished.");
            case null:
                throw new SmbProtocolException("Server's first SPNEGO NegTokenResp has no negState.");
        }
        if (response.SupportedMech is not null && response.SupportedMech != SpnegoTokens.NtlmsspOid)
        {
            throw new SmbSecurityException($"Server selected SPNEGO mechanism {response.SupportedMech}; only NTLMSSP ({SpnegoTokens.NtlmsspOid}) was offered.");
        }
        if (response.ResponseToken is not { Length: > 0 } challenge)
        {
            throw new SmbProtocolException("Server's SPNEGO NegTokenResp carries no NTLM CHALLENGE_MESSAGE.");
        }

        var authenticate = _ntlm.CreateAuthenticate(challenge);
        byte[] mic = [];
        if (_ntlm.Security is { } security)
        {
            mic = security.Sign(_mechTypeList);
        }
        _stage = Stage.SentAuthenticate;
        return SpnegoTokens.EncodeNegTokenResp(null, null, authenticate, mic);
    }

    public void Complete(ReadOnlySpan<byte> serverToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_stage != Stage.SentAuthenticate)
        {
            throw new SmbProtocolException($"SPNEGO exchange completed by the server in stage {_stage}, before NTLM AUTHENTICATE was sent.");
        }
        if (serverToken.IsEmpty)
        {
            // Some servers send no final token; the SMB layer's signature check of the response still applies.
            _stage = Stage.Completed;
            return;
        }
        var response = SpnegoTokens.DecodeNegTokenResp(serverToken.ToArray());
        // RFC 4178 §4.2.2: negState is optional after the first reply; NTLM is complete once AUTHENTICATE is sent.
        if (response.NegState is { } state && state != SpnegoNegState.AcceptCompleted)
        {
            throw new SmbSecurityException($"Server's final SPNEGO negState is {state}, expected accept-completed.");
        }
        if (response.SupportedMech is not null && response.SupportedMech != SpnegoTokens.NtlmsspOid)
        {
            throw new SmbSecurityException($"Server's final SPNEGO token names mechanism {response.SupportedMech}, not NTLMSSP.");
        }
        if (response.ResponseToken is { Length: > 0 })
        {
            throw new SmbProtocolException("Server's final SPNEGO token carries an unexpected NTLM response token.");
        }
        if (response.MechListMic is { } serverMic)
        {
            if (_ntlm.Security is not { } security)
            {
                throw new SmbSecurityException("Server sent a SPNEGO mechListMIC on a session without an NTLM session key.");
            }
            if (!security.Verify(_mechTypeList, serverMic))
            {
                throw new SmbSecurityException("Server's SPNEGO mechListMIC does not verify; the negotiation may have been tampered with.");
            }
        }
        _stage = Stage.Completed;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _ntlm.Dispose();
    }

    public override string ToString() => $"SpnegoNtlmAuthenticator({_ntlm}, {_stage})";
}
