using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Security;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>
/// An authenticated SMB session on one connection (MS-SMB2 §3.2.4.2.3, §3.2.5.3): NTLMv2 in
/// SPNEGO, key derivation for the negotiated dialect, and the signer every request of the
/// session goes through. The object survives reconnects: <see cref="RecoverAsync"/> sets up a
/// new session with PreviousSessionId and swaps the id and the keys in place.
/// </summary>
internal sealed class SmbSession : IAsyncDisposable
{
    private const int MaxLegs = 8;

    private readonly ILogger _logger;
    private readonly string _workstation;
    private readonly bool _requireSigning;
    private readonly bool _allowGuest;
    private SessionSigner? _signer;
    private ulong _sessionId;
    private bool _signingRequired;
    private int _loggedOff;

    private SmbSession(SmbConnection connection, SmbCredentials credentials, string workstation, bool requireSigning, bool allowGuest, ILogger logger)
    {
        Connection = connection;
        Credentials = credentials;
        _workstation = workstation;
        _requireSigning = requireSigning;
        _allowGuest = allowGuest;
        _logger = logger;
    }

    public SmbConnection Connection { get; }
    public SmbCredentials Credentials { get; }
    public ulong SessionId => Volatile.Read(ref _sessionId);
    public bool SigningRequired => _signingRequired;
    public bool IsGuest { get; private set; }

    /// <summary>The signer requests of this session use, or null when the session does not sign.</summary>
    public IMessageSigner? Signer => _signingRequired ? _signer : null;

    /// <summary>The signing algorithm in use, for diagnostics and tests.</summary>
    public SigningAlgorithm? SigningAlgorithm => _signingRequired ? _signer?.Algorithm : null;

    /// <summary>A request context for session-level requests (no tree).</summary>
    public RequestContext Context(uint treeId = 0) => new() { SessionId = SessionId, TreeId = treeId, Signer = Signer };

    /// <summary>
    /// TREE_CONNECT is always signed on 3.1.1 for a session with a key (MS-SMB2 §3.2.4.2.4), even
    /// when the session does not otherwise sign; Samba refuses an unsigned one with ACCESS_DENIED.
    /// </summary>
    public RequestContext TreeConnectContext(bool duringSetup) => new()
    {
        SessionId = SessionId,
        Signer = Signer ?? (Connection.Negotiated?.Dialect == SmbDialect.Smb311 && !IsGuest ? _signer : null),
        DuringSetup = duringSetup,
    };

    /// <summary>Runs SESSION_SETUP to completion.</summary>
    public static async Task<SmbSession> SetupAsync(SmbConnection connection, SmbCredentials credentials, string workstation,
        bool requireSigning, bool allowGuest, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var session = new SmbSession(connection, credentials, workstation, requireSigning, allowGuest, loggerFactory.CreateLogger<SmbSession>());
        await session.AuthenticateAsync(previousSessionId: 0, duringSetup: false, cancellationToken).ConfigureAwait(false);
        return session;
    }

    /// <summary>
    /// After a reconnect: a new SESSION_SETUP naming the old session as PreviousSessionId
    /// (MS-SMB2 §3.2.4.2.3), so the server can drop the old one; then new keys and id.
    /// </summary>
    public Task RecoverAsync(CancellationToken cancellationToken) =>
        AuthenticateAsync(previousSessionId: SessionId, duringSetup: true, cancellationToken);

    private async Task AuthenticateAsync(ulong previousSessionId, bool duringSetup, CancellationToken cancellationToken)
    {
        var negotiated = Connection.Negotiated ?? throw new InvalidOperationException("SESSION_SETUP before NEGOTIATE.");
        var dialect = negotiated.Dialect;
        using var authenticator = Credentials.IsAnonymous
            ? SpnegoNtlmAuthenticator.CreateAnonymous(_workstation)
            : new SpnegoNtlmAuthenticator(Credentials.UserName, Credentials.Domain, Credentials.Password, _workstation);

        // 3.1.1 pre-auth integrity (MS-SMB2 §3.2.5.3.1): the session's hash starts from the connection's
        // (NEGOTIATE request and response) and takes in every SESSION_SETUP request and every response but the last.
        using var preauth = dialect == SmbDialect.Smb311 ? new PreauthIntegrityHash() : null;
        if (preauth is not null)
        {
            foreach (var m in negotiated.PreauthMessages)
            {
                preauth.Update(m);
            }
        }

        var token = authenticator.Initiate(negotiated.SecurityBuffer);
        ulong sessionId = 0;
        var securityMode = SecurityMode.SigningEnabled | (_requireSigning ? SecurityMode.SigningRequired : 0);
        for (var leg = 0; ; leg++)
        {
            if (leg > MaxLegs)
            {
                throw new SmbProtocolException($"SESSION_SETUP did not finish after {MaxLegs} round trips.");
            }
            var request = new SessionSetupRequest { SecurityMode = securityMode, SecurityBuffer = token, PreviousSessionId = previousSessionId };
            var context = new RequestContext { SessionId = sessionId, OnSent = preauth is null ? null : m => preauth.Update(m), DuringSetup = duringSetup };
            using var response = await Connection.SendAsync(request, context, cancellationToken).ConfigureAwait(false);
            if (response.Status == NtStatus.MoreProcessingRequired)
            {
                if (sessionId != 0 && response.Header.SessionId != sessionId)
                {
                    throw new SmbProtocolException($"SESSION_SETUP changed SessionId from 0x{sessionId:X} to 0x{response.Header.SessionId:X}.");
                }
                sessionId = response.Header.SessionId;
                preauth?.Update(response.Message);
                var more = SessionSetupResponse.Parse(response.Message);
                token = authenticator.Continue(more.SecurityBuffer);
                continue;
            }
            if (response.Status != NtStatus.Success)
            {
                throw SmbStatusException.Create(response.Status, $"Session setup for '{Credentials}' on {Connection.Host}:{Connection.Port} failed");
            }
            sessionId = response.Header.SessionId;
            var final = SessionSetupResponse.Parse(response.Message);
            authenticator.Complete(final.SecurityBuffer);

            var guestOrNull = final.IsGuest || final.IsNull;
            if (guestOrNull && !Credentials.IsAnonymous && !_allowGuest)
            {
                // Never a silent fallback to guest when credentials were given (DESIGN §7).
                throw new SmbAuthenticationException(NtStatus.LogonFailure,
                    $"Server {Connection.Host}:{Connection.Port} logged '{Credentials}' on as guest instead of checking the password; refused");
            }

            var signingRequired = !guestOrNull && (_requireSigning || negotiated.ServerRequiresSigning);
            SessionSigner? signer = null;
            var sessionKey = authenticator.SessionKey;
            if (!sessionKey.IsEmpty && !guestOrNull)
            {
                using var keys = Smb3KeyDerivation.Derive(sessionKey, dialect, preauth is null ? default : preauth.Value);
                signer = new SessionSigner(Smb2Signer.Create(SigningAlgorithmFor(negotiated), keys.SigningKey));
                // MS-SMB2 §3.2.5.3.1: the final response of a 3.x session setup is signed with the new key; verify it.
                if (response.Header.IsSigned)
                {
                    var copy = response.Message.ToArray();
                    if (!signer.Verify(copy))
                    {
                        signer.Dispose();
                        throw new SmbProtocolException("Bad signature on the final SESSION_SETUP response.");
                    }
                }
                else if (signingRequired && dialect.IsSmb3())
                {
                    signer.Dispose();
                    throw new SmbProtocolException("The final SESSION_SETUP response is not signed although signing is required.");
                }
            }
            else if (_requireSigning)
            {
                throw new SmbSecurityException("Signing was required but this session has no key (guest or anonymous).");
            }
            var old = Interlocked.Exchange(ref _signer, signer);
            _signingRequired = signingRequired;
            IsGuest = guestOrNull;
            Volatile.Write(ref _sessionId, sessionId);
            old?.Dispose();
            _logger.LogInformation("Session 0x{SessionId:X} {Verb} for {User} on {Host}:{Port} (signing {Signing})",
                sessionId, previousSessionId == 0 ? "set up" : $"re-established (was 0x{previousSessionId:X})",
                Credentials.ToString(), Connection.Host, Connection.Port, signingRequired ? signer?.Algorithm.ToString() : "off");
            return;
        }
    }

    /// <summary>MS-SMB2 §3.2.5.3.1: HMAC-SHA256 for 2.x, AES-CMAC for 3.0/3.0.2, the negotiated one for 3.1.1.</summary>
    private static SigningAlgorithm SigningAlgorithmFor(NegotiatedParameters negotiated) =>
        negotiated.Dialect switch
        {
            < SmbDialect.Smb300 => Security.SigningAlgorithm.HmacSha256,
            SmbDialect.Smb311 when negotiated.SigningAlgorithmId is { } id => (SigningAlgorithm)id,
            _ => Security.SigningAlgorithm.AesCmac,
        };

    /// <summary>Sends LOGOFF (best effort) and forgets the keys.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _loggedOff, 1) != 0)
        {
            return;
        }
        try
        {
            if (Connection.State == ConnectionState.Ready)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                using var response = await Connection.SendAsync(new LogoffRequest(), Context(), cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException)
        {
            _logger.LogDebug("LOGOFF of session 0x{SessionId:X} failed: {Reason}", SessionId, ex.Message);
        }
        Interlocked.Exchange(ref _signer, null)?.Dispose();
    }
}
