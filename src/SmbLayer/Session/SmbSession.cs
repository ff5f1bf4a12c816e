using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Security;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>
/// An authenticated SMB session on one connection (MS-SMB2 §3.2.4.2.3, §3.2.5.3): NTLMv2 in
/// SPNEGO, key derivation for the negotiated dialect, the signer and (3.x) the cipher every
/// request of the session goes through. The object survives reconnects: <see cref="RecoverAsync"/>
/// sets up a new session with PreviousSessionId and swaps the id and the keys in place.
/// </summary>
internal sealed class SmbSession : IAsyncDisposable
{
    private const int MaxLegs = 8;

    private readonly ILogger _logger;
    private readonly SessionSetupOptions _options;
    private SessionSigner? _signer;
    private SessionTransform? _transform;
    private ulong _sessionId;
    private bool _signingRequired;
    private int _loggedOff;

    /// <summary>The trees connected under this session, connected again when the session is set up anew in place.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<SmbTree, byte> _trees = new();

    /// <summary>Guards <see cref="_statusRecovery"/>: one recovery from a session status at a time, shared by every caller.</summary>
    private readonly object _statusRecoveryGate = new();
    private Task? _statusRecovery;

    private SmbSession(SmbConnection connection, SessionSetupOptions options)
    {
        Connection = connection;
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<SmbSession>();
    }

    /// <summary>
    /// Test hook: called with the keys of every session as they are derived, so tests can look for them
    /// in logs and messages. Null (nothing is called) outside tests.
    /// </summary>
    internal static Action<Smb3SessionKeys>? KeysDerivedObserver { get; set; }

    public SmbConnection Connection { get; }
    public SmbCredentials Credentials => _options.Credentials;
    public ulong SessionId => Volatile.Read(ref _sessionId);
    public bool SigningRequired => _signingRequired;
    public bool IsGuest { get; private set; }

    /// <summary>Every request of the session goes out encrypted (the server's ENCRYPT_DATA session flag, or the caller required it).</summary>
    public bool EncryptData { get; private set; }

    /// <summary>True when the session has cipher keys (3.x with a common cipher), so a share that requires encryption can be used.</summary>
    public bool CanEncrypt => _transform is not null;

    /// <summary>The cipher in use or available, for diagnostics and tests.</summary>
    public CipherId Cipher => _transform?.Cipher ?? CipherId.None;

    /// <summary>The signer requests of this session use, or null when the session does not sign.</summary>
    public IMessageSigner? Signer => _signingRequired ? _signer : null;

    /// <summary>The signing algorithm in use, for diagnostics and tests.</summary>
    public SigningAlgorithm? SigningAlgorithm => _signingRequired ? _signer?.Algorithm : null;

    /// <summary>
    /// A request context for this session. Encrypted requests (the session's or the share's EncryptData)
    /// are not signed: the cipher's tag protects them (MS-SMB2 §3.2.4.1.8).
    /// </summary>
    public RequestContext Context(uint treeId = 0, bool encrypt = false) => Encrypted(encrypt)
        ? new() { SessionId = SessionId, TreeId = treeId, Transform = _transform }
        : new() { SessionId = SessionId, TreeId = treeId, Signer = Signer };

    /// <summary>
    /// TREE_CONNECT goes encrypted when the session encrypts; otherwise it is always signed on 3.1.1 for a
    /// session with a key (MS-SMB2 §3.2.4.2.4), even when the session does not otherwise sign; Samba
    /// refuses an unsigned one with ACCESS_DENIED.
    /// </summary>
    public RequestContext TreeConnectContext(bool duringSetup) => EncryptData
        ? new() { SessionId = SessionId, Transform = _transform, DuringSetup = duringSetup }
        : new()
        {
            SessionId = SessionId,
            Signer = Signer ?? (Connection.Negotiated?.Dialect == SmbDialect.Smb311 && !IsGuest ? _signer : null),
            DuringSetup = duringSetup,
        };

    /// <summary>A context that always signs when the session has a key (VALIDATE_NEGOTIATE_INFO must be signed), or encrypts when the session does.</summary>
    public RequestContext SignedContext(uint treeId, bool encrypt) => Encrypted(encrypt)
        ? Context(treeId, encrypt: true)
        : new() { SessionId = SessionId, TreeId = treeId, Signer = Signer ?? _signer };

    /// <summary>True when the session has a key to sign with.</summary>
    public bool HasSigningKey => _signer is not null;

    private bool Encrypted(bool encrypt) => (EncryptData || encrypt) && _transform is not null;

    /// <summary>Runs SESSION_SETUP to completion.</summary>
    public static async Task<SmbSession> SetupAsync(SmbConnection connection, SessionSetupOptions options, CancellationToken cancellationToken)
    {
        var session = new SmbSession(connection, options);
        await session.AuthenticateAsync(previousSessionId: 0, duringSetup: false, cancellationToken).ConfigureAwait(false);
        return session;
    }

    /// <summary>
    /// After a reconnect: a new SESSION_SETUP naming the old session as PreviousSessionId
    /// (MS-SMB2 §3.2.4.2.3), so the server can drop the old one; then new keys and id.
    /// </summary>
    public Task RecoverAsync(CancellationToken cancellationToken) =>
        AuthenticateAsync(previousSessionId: SessionId, duringSetup: true, cancellationToken);

    /// <summary>A tree connected under this session (<see cref="SmbTree.ConnectAsync"/>).</summary>
    public void Attach(SmbTree tree) => _trees.TryAdd(tree, 0);

    /// <summary>A tree disconnected for good.</summary>
    public void Detach(SmbTree tree) => _trees.TryRemove(tree, out _);

    /// <summary>
    /// A request sent under <paramref name="answeredSessionId"/> was answered STATUS_NETWORK_SESSION_EXPIRED or
    /// STATUS_USER_SESSION_DELETED. Only this session is recovered, on the same connection; the connection's other
    /// sessions go on. Expired: re-authenticated on the same SessionId (MS-SMB2 §3.2.5.1.6, §3.2.4.2.3), its trees and
    /// handles untouched. Deleted: set up anew (PreviousSessionId names the old one), then its trees are connected again
    /// and their durable handles reclaimed. Concurrent callers share one recovery; one that comes after the session
    /// was already set up anew only sends its request again. A refused re-authentication fails the callers of this
    /// session with <see cref="SmbAuthenticationException"/>.
    /// </summary>
    public Task RecoverAfterStatusAsync(NtStatus status, ulong answeredSessionId, CancellationToken cancellationToken)
    {
        lock (_statusRecoveryGate)
        {
            if (_statusRecovery is not { IsCompleted: false })
            {
                if (SessionId != answeredSessionId)
                {
                    return Task.CompletedTask; // set up anew since that request went out: it goes again under the new id
                }
                _statusRecovery = RunStatusRecoveryAsync(status, answeredSessionId);
            }
            return _statusRecovery.WaitAsync(cancellationToken);
        }
    }

    private async Task RunStatusRecoveryAsync(NtStatus status, ulong oldSessionId)
    {
        await Task.Yield(); // outside the gate's lock
        var expired = status == NtStatus.NetworkSessionExpired;
        _logger.SessionRecovering(oldSessionId, Connection.Host, Connection.Port, NtStatusText.Describe(status),
            expired ? "re-authenticating it" : "setting it up anew, then its trees and handles");
        var stepTimeout = Connection.Settings.RecoveryStepTimeout;
        using (var setup = new CancellationTokenSource(stepTimeout))
        {
            if (expired)
            {
                await ReauthenticateAsync(setup.Token).ConfigureAwait(false);
                return;
            }
            await AuthenticateAsync(previousSessionId: oldSessionId, duringSetup: false, setup.Token).ConfigureAwait(false);
        }
        foreach (var tree in _trees.Keys)
        {
            try
            {
                await tree.RecoverAfterSessionRebuiltAsync(stepTimeout).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // Disconnected meanwhile: nothing to bring back.
            }
        }
    }

    /// <summary>
    /// The mechanism by <see cref="SessionSetupOptions.Kerberos"/>, and its first token. Kerberos asks a KDC for tickets in
    /// calls that block: they run off this flow, and the wait ends at the caller's deadline (a call left running releases
    /// what it holds when it ends). With <see cref="KerberosPolicy.Desired"/> a Kerberos failure before anything is sent
    /// (no ticket, no KDC, no such principal) falls back to NTLM when there is a password.
    /// </summary>
    private async Task<(IAuthenticator Authenticator, byte[] Token)> StartAuthenticationAsync(NegotiatedParameters negotiated, CancellationToken cancellationToken)
    {
        if (Credentials.IsAnonymous || _options.Kerberos == KerberosPolicy.Off)
        {
            var ntlm = SpnegoNtlmAuthenticator.FromCredentials(Credentials, _options.Workstation);
            return (ntlm, ntlm.Initiate(negotiated.SecurityBuffer));
        }
        var host = Connection.Host;
        var start = Task.Run<(IAuthenticator Authenticator, byte[] Token)>(() =>
        {
            var kerberos = Security.Kerberos.KerberosAuthenticator.Create(host, Credentials);
            try
            {
                return (kerberos, kerberos.Initiate(negotiated.SecurityBuffer));
            }
            catch
            {
                kerberos.Dispose();
                throw;
            }
        }, CancellationToken.None);
        try
        {
            return await start.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Given up on: what the call gets when it ends is released then.
            _ = start.ContinueWith(t => t.Result.Authenticator.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            throw;
        }
        catch (SmbKerberosException ex) when (_options.Kerberos == KerberosPolicy.Desired && Credentials.Password.Length > 0)
        {
            _logger.KerberosFellBackToNtlm(Credentials.ToString(), host, ex.Message);
            var ntlm = SpnegoNtlmAuthenticator.FromCredentials(Credentials, _options.Workstation);
            return (ntlm, ntlm.Initiate(negotiated.SecurityBuffer));
        }
    }

    /// <summary>
    /// MS-SMB2 §3.2.4.2.3: a SESSION_SETUP exchange for the existing SessionId, signed under the session's key as its
    /// other requests; the session keeps its id, keys, trees and handles (§3.2.5.3.2 derives no new keys).
    /// </summary>
    private async Task ReauthenticateAsync(CancellationToken cancellationToken)
    {
        var negotiated = Connection.Negotiated ?? throw new InvalidOperationException("SESSION_SETUP before NEGOTIATE.");
        var (authenticator, token) = await StartAuthenticationAsync(negotiated, cancellationToken).ConfigureAwait(false);
        using var _ = authenticator;
        var sessionId = SessionId;
        var securityMode = SecurityMode.SigningEnabled | (_options.RequireSigning ? SecurityMode.SigningRequired : 0);
        for (var leg = 0; ; leg++)
        {
            if (leg > MaxLegs)
            {
                throw new SmbProtocolException($"Re-authenticating SESSION_SETUP did not finish after {MaxLegs} round trips.");
            }
            var request = new SessionSetupRequest { SecurityMode = securityMode, SecurityBuffer = token };
            // Signed as the session's other requests are (when it requires signing), and then every answer must be too.
            var context = new RequestContext { SessionId = sessionId, Signer = Signer };
            using var response = await Connection.SendAsync(request, context, cancellationToken).ConfigureAwait(false);
            if (response.Header.SessionId != sessionId)
            {
                throw new SmbProtocolException($"Re-authenticating SESSION_SETUP for 0x{sessionId:X} was answered for 0x{response.Header.SessionId:X}.");
            }
            if (response.Status == NtStatus.MoreProcessingRequired)
            {
                token = authenticator.Continue(SessionSetupResponse.Parse(response.Message).SecurityBuffer);
                continue;
            }
            if (response.Status != NtStatus.Success)
            {
                throw SmbStatusException.Create(response.Status,
                    $"Re-authenticating '{Credentials}' on {Connection.Host}:{Connection.Port} (session 0x{sessionId:X}) failed");
            }
            var final = SessionSetupResponse.Parse(response.Message);
            authenticator.Complete(final.SecurityBuffer);
            if ((final.IsGuest || final.IsNull) && !IsGuest && !Credentials.IsAnonymous)
            {
                throw new SmbSecurityException(
                    $"Server {Connection.Host}:{Connection.Port} re-authenticated '{Credentials}' as guest (session 0x{sessionId:X}, authenticated); refused.");
            }
            _logger.SessionReauthenticated(sessionId, Credentials.ToString(), Connection.Host, Connection.Port);
            return;
        }
    }

    private async Task AuthenticateAsync(ulong previousSessionId, bool duringSetup, CancellationToken cancellationToken)
    {
        var negotiated = Connection.Negotiated ?? throw new InvalidOperationException("SESSION_SETUP before NEGOTIATE.");
        var dialect = negotiated.Dialect;
        if (_options.RequireEncryption)
        {
            ThrowIfCannotEncrypt(Connection, negotiated, Credentials);
        }
        var (authenticator, token) = await StartAuthenticationAsync(negotiated, cancellationToken).ConfigureAwait(false);
        using var _ = authenticator;

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

        ulong sessionId = 0;
        var securityMode = SecurityMode.SigningEnabled | (_options.RequireSigning ? SecurityMode.SigningRequired : 0);
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
                var hint = response.Status == NtStatus.NtlmBlocked && authenticator is SpnegoNtlmAuthenticator
                    ? " (the server refuses NTLM: authenticate with Kerberos, KerberosPolicy / smb -k)" : "";
                throw SmbStatusException.Create(response.Status, $"Session setup for '{Credentials}' on {Connection.Host}:{Connection.Port} failed{hint}");
            }
            sessionId = response.Header.SessionId;
            var final = SessionSetupResponse.Parse(response.Message);
            authenticator.Complete(final.SecurityBuffer);

            var guestOrNull = final.IsGuest || final.IsNull;
            if (guestOrNull && !Credentials.IsAnonymous && !_options.AllowGuest)
            {
                // Never a silent fallback to guest when credentials were given (DESIGN §7).
                throw new SmbAuthenticationException(NtStatus.LogonFailure,
                    $"Server {Connection.Host}:{Connection.Port} logged '{Credentials}' on as guest instead of checking the password; refused");
            }

            if (guestOrNull && previousSessionId != 0 && !IsGuest)
            {
                // A session that authenticated (and so could sign) does not come back as guest, whatever AllowGuest says:
                // that would drop its signing, the very thing someone on the path who reset the connection may be after.
                throw new SmbSecurityException(
                    $"Server {Connection.Host}:{Connection.Port} logged '{Credentials}' on as guest when re-establishing the session " +
                    $"(was 0x{previousSessionId:X}, authenticated); refused.");
            }

            // A recovered session signs at least as its first setup did: a reconnect must not weaken that, whatever the new
            // link's NEGOTIATE says (it is also compared with the first one, Negotiation.Settle; this holds if that changes).
            var signingRequired = !guestOrNull
                && (_options.RequireSigning || negotiated.ServerRequiresSigning || (previousSessionId != 0 && _signingRequired));
            SessionSigner? signer = null;
            SessionTransform? transform = null;
            var sessionKey = authenticator.SessionKey;
            var cipher = negotiated.Cipher;
            if (!sessionKey.IsEmpty && !guestOrNull)
            {
                // AES-256 ciphers take 32-byte keys derived from the full session key (MS-SMB2 §3.2.5.3.1).
                using var keys = Smb3KeyDerivation.Derive(sessionKey, dialect, preauth is null ? default : preauth.Value,
                    cipher is CipherId.Aes256Ccm or CipherId.Aes256Gcm ? 32 : 16, sessionKey);
                KeysDerivedObserver?.Invoke(keys);
                signer = new SessionSigner(Smb2Signer.Create(SigningAlgorithmFor(negotiated), keys.SigningKey));
                if (cipher != CipherId.None && keys.EncryptionKey.Length > 0)
                {
                    transform = new SessionTransform(sessionId, new Smb3Cipher(cipher, keys.EncryptionKey, keys.DecryptionKey));
                }
                // MS-SMB2 §3.2.5.3.1: the final response of a 3.x session setup is signed with the new key; verify it.
                if (response.Header.IsSigned)
                {
                    var copy = response.Message.ToArray();
                    if (!signer.Verify(copy))
                    {
                        signer.Dispose();
                        transform?.Dispose();
                        throw new SmbProtocolException("Bad signature on the final SESSION_SETUP response.");
                    }
                }
                else if (dialect == SmbDialect.Smb311)
                {
                    // MS-SMB2 §3.2.5.3.1: on 3.1.1 an unsigned final response MUST fail the setup, signing required or not.
                    // Its signature, under a key derived from the pre-auth integrity hash, is the only proof that NEGOTIATE
                    // and SESSION_SETUP reached the server unaltered; accepting it unsigned would let someone on the path
                    // rewrite NEGOTIATE (its SecurityMode, say) and then simply leave the signature off.
                    signer.Dispose();
                    transform?.Dispose();
                    throw new SmbSecurityException(
                        $"The final SESSION_SETUP response from {Connection.Host}:{Connection.Port} for '{Credentials}' is not signed; " +
                        "on SMB 3.1.1 it must be (MS-SMB2 §3.2.5.3.1), so the negotiation cannot be trusted.");
                }
                else if (signingRequired && dialect.IsSmb3())
                {
                    signer.Dispose();
                    transform?.Dispose();
                    throw new SmbProtocolException("The final SESSION_SETUP response is not signed although signing is required.");
                }
            }
            else if (_options.RequireSigning)
            {
                throw new SmbSecurityException("Signing was required but this session has no key (guest or anonymous).");
            }
            // Encryption for the whole session: the server asks for it (SMB2_SESSION_FLAG_ENCRYPT_DATA, 3.x only) or the caller does.
            var encryptData = _options.RequireEncryption || (final.EncryptData && dialect.IsSmb3());
            if (encryptData && transform is null)
            {
                signer?.Dispose();
                throw new SmbSecurityException(final.EncryptData
                    ? $"Server {Connection.Host}:{Connection.Port} requires encryption for this session, but no cipher is available (dialect {dialect.ToDisplay()}, cipher {cipher})."
                    : $"Encryption was required, but the session on {Connection.Host}:{Connection.Port} has no cipher keys (guest or anonymous, or no common cipher).");
            }
            if (transform is not null)
            {
                Connection.RegisterTransform(transform);
            }
            // Swap in the new identity and keys (a no-op swap of nulls on the first setup).
            var oldSigner = Interlocked.Exchange(ref _signer, signer);
            var oldTransform = Interlocked.Exchange(ref _transform, transform);
            _signingRequired = signingRequired;
            IsGuest = guestOrNull;
            EncryptData = encryptData;
            Volatile.Write(ref _sessionId, sessionId);
            oldSigner?.Dispose();
            if (oldTransform is not null)
            {
                Connection.UnregisterTransform(oldTransform);
                oldTransform.Dispose();
            }
            // Checked here as well: the arguments are strings built for the message.
            if (_logger.IsEnabled(LogLevel.Information))
            {
                _logger.SessionReady(sessionId, previousSessionId == 0 ? "set up" : $"re-established (was 0x{previousSessionId:X})",
                    Credentials.ToString(), Connection.Host, Connection.Port, signingRequired ? signer?.Algorithm.ToString() ?? "off" : "off",
                    encryptData ? cipher.ToString() : "off");
            }
            return;
        }
    }

    /// <summary>Refuses, before any credential goes out, a session that was required to encrypt but cannot.</summary>
    private static void ThrowIfCannotEncrypt(SmbConnection connection, NegotiatedParameters negotiated, SmbCredentials credentials)
    {
        if (!negotiated.Dialect.IsSmb3())
        {
            throw new SmbSecurityException(
                $"Encryption was required, but {connection.Host}:{connection.Port} negotiated SMB {negotiated.Dialect.ToDisplay()}, which has no encryption (SMB 3.0 or later is needed).");
        }
        if (negotiated.Cipher == CipherId.None)
        {
            throw new SmbSecurityException(negotiated.Dialect == SmbDialect.Smb311
                ? $"Encryption was required, but {connection.Host}:{connection.Port} accepted none of the ciphers offered."
                : $"Encryption was required, but {connection.Host}:{connection.Port} does not support encryption (no SMB2_GLOBAL_CAP_ENCRYPTION).");
        }
        if (credentials.IsAnonymous)
        {
            throw new SmbSecurityException("Encryption was required, but an anonymous session has no keys to encrypt with.");
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
            _logger.LogoffFailed(SessionId, ex.Message);
        }
        Interlocked.Exchange(ref _signer, null)?.Dispose();
        if (Interlocked.Exchange(ref _transform, null) is { } transform)
        {
            Connection.UnregisterTransform(transform);
            transform.Dispose();
        }
    }
}
