using System.Net;
using System.Runtime.InteropServices;
using SmbLayer.Protocol;

namespace SmbLayer.Security.Kerberos;

/// <summary>
/// Kerberos in SESSION_SETUP through the system's GSS-API: a SPNEGO context (the library's, with its mechListMIC) limited
/// to Kerberos, for <c>cifs@host</c>, with mutual authentication: the server's AP-REP must verify before the session is
/// used, and the session key is the context's (GSS_C_INQ_SSPI_SESSION_KEY: the acceptor's subkey when it sent one, as
/// MS-SMB2 §3.2.5.3 and Windows use). Credentials come from the ticket cache (KRB5CCNAME), or from a password, for which
/// the library gets a ticket into memory only: nothing is written to the user's cache.
/// <para>
/// The calls block (a KDC is asked for tickets); the session runs them off its flow and stops waiting at its deadline. A
/// call still running when the authenticator is disposed releases the context itself when it ends.
/// </para>
/// </summary>
internal sealed class KerberosAuthenticator : IAuthenticator
{
    private const uint Flags = Gssapi.MutualFlag | Gssapi.ReplayFlag | Gssapi.SequenceFlag | Gssapi.IntegFlag;

    private readonly object _gate = new();
    private readonly string _target;
    private IntPtr _credential;
    private IntPtr _name;
    private IntPtr _context;
    private byte[] _sessionKey = [];
    private bool _complete;
    private bool _busy;
    private bool _disposed;

    private KerberosAuthenticator(string target) => _target = target;

    /// <summary>
    /// Tests: the service ticket lifetime to ask for (GSS time_req, seconds; 0 asks for the longest). Samba's KDC sets
    /// lifetimes in whole hours, and refuses very short user tickets: a short service ticket is how a test sees a session
    /// expire within a minute.
    /// </summary>
    internal static uint RequestedLifetimeSeconds { get; set; }

    /// <summary>The SPN the ticket is for (cifs/host).</summary>
    public string Target => _target;

    /// <summary>
    /// Credentials for <paramref name="host"/>: from the cache when <paramref name="credentials"/> has no password, else a
    /// ticket got with the password (user@REALM; a domain with a dot in it is taken as the realm, else krb5.conf's default).
    /// </summary>
    public static KerberosAuthenticator Create(string host, SmbCredentials credentials)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out _))
        {
            throw new SmbKerberosException(NtStatus.LogonFailure,
                $"Kerberos cannot be used with a server given as an address ({host}): its ticket names the server (cifs/<name>); connect by the server's name");
        }
        var authenticator = new KerberosAuthenticator($"cifs@{host}");
        try
        {
            authenticator.Acquire(credentials);
            return authenticator;
        }
        catch
        {
            authenticator.Dispose();
            throw;
        }
    }

    /// <summary>user@REALM for a password logon.</summary>
    internal static string Principal(SmbCredentials credentials) =>
        credentials.UserName.Contains('@', StringComparison.Ordinal) ? credentials.UserName
        : credentials.Domain.Contains('.', StringComparison.Ordinal) ? $"{credentials.UserName}@{credentials.Domain.ToUpperInvariant()}"
        : credentials.UserName;

    private void Acquire(SmbCredentials credentials)
    {
        _name = Gssapi.Name(_target, Gssapi.HostBasedService, (major, minor) => Failure("naming the server", major, minor));
        uint status, minorStatus;
        if (credentials.Password.Length == 0)
        {
            status = Gssapi.AcquireCred(out minorStatus, IntPtr.Zero, 0, Gssapi.SpnegoOnly, Gssapi.Initiate, out _credential, IntPtr.Zero, IntPtr.Zero);
            if (Gssapi.IsError(status))
            {
                // SPNEGO says only that it found no mechanism; Kerberos itself says why (no cache, expired, ...).
                var krb5 = Gssapi.AcquireCred(out var krb5Minor, IntPtr.Zero, 0, Gssapi.Krb5Only, Gssapi.Initiate, out var probe, IntPtr.Zero, IntPtr.Zero);
                if (probe != IntPtr.Zero)
                {
                    Gssapi.ReleaseCred(out _, ref probe);
                }
                throw Gssapi.IsError(krb5)
                    ? Failure("taking credentials from the ticket cache", krb5, krb5Minor)
                    : Failure("taking credentials from the ticket cache", status, minorStatus);
            }
        }
        else
        {
            var principal = Principal(credentials);
            var user = Gssapi.Name(principal, Gssapi.Krb5PrincipalName, (major, minor) => Failure($"naming '{principal}'", major, minor));
            try
            {
                using var password = Gssapi.NativeBuffer.Utf8(credentials.Password);
                status = Gssapi.AcquireCredWithPassword(out minorStatus, user, ref password.Buffer, 0, Gssapi.SpnegoOnly, Gssapi.Initiate, out _credential, IntPtr.Zero, IntPtr.Zero);
            }
            finally
            {
                Gssapi.ReleaseName(out _, ref user);
            }
            if (Gssapi.IsError(status))
            {
                throw Failure($"getting a ticket for '{principal}' with the password", status, minorStatus);
            }
        }
        // SPNEGO offers Kerberos only; NTLM, when the policy allows it, is this client's own (SpnegoNtlmAuthenticator).
        status = Gssapi.SetNegMechs(out minorStatus, _credential, Gssapi.Krb5Only);
        if (Gssapi.IsError(status))
        {
            throw Failure("limiting SPNEGO to Kerberos", status, minorStatus);
        }
    }

    public bool IsAnonymous => false;

    public ReadOnlySpan<byte> SessionKey => _sessionKey;

    /// <summary>The AP-REQ in SPNEGO. The server's NEGOTIATE hints are not needed: the library builds the mechanism list.</summary>
    public byte[] Initiate(ReadOnlySpan<byte> negotiateToken) => Step([], "building the request (AP-REQ)");

    public byte[] Continue(ReadOnlySpan<byte> serverToken)
    {
        if (_complete)
        {
            throw new SmbProtocolException("The server asked for another Kerberos round trip after the exchange completed.");
        }
        return Step(serverToken.ToArray(), "taking the server's answer");
    }

    /// <summary>The server's final token must complete mutual authentication (its AP-REP, and SPNEGO's mechListMIC).</summary>
    public void Complete(ReadOnlySpan<byte> serverToken)
    {
        if (!_complete)
        {
            if (serverToken.IsEmpty)
            {
                throw new SmbSecurityException($"The server accepted the Kerberos session for {_target} without proving itself (no AP-REP); refused.");
            }
            var more = Step(serverToken.ToArray(), "checking the server's answer (AP-REP)");
            if (!_complete || more.Length > 0)
            {
                throw new SmbSecurityException($"The server ended the Kerberos exchange for {_target} before it completed; refused.");
            }
        }
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var status = Gssapi.InquireSecContextByOid(out var minor, _context, Gssapi.SessionKeyOid, out var set);
            if (Gssapi.IsError(status))
            {
                throw Failure("reading the session key", status, minor);
            }
            try
            {
                var header = Marshal.PtrToStructure<Gssapi.Set>(set);
                if (header.Count < 1)
                {
                    throw new SmbSecurityException($"The Kerberos context for {_target} has no session key.");
                }
                var key = Marshal.PtrToStructure<Gssapi.Buffer>(header.Elements);
                _sessionKey = new byte[(int)key.Length];
                Marshal.Copy(key.Value, _sessionKey, 0, _sessionKey.Length);
            }
            finally
            {
                Gssapi.ReleaseBufferSet(out _, ref set);
            }
        }
    }

    private byte[] Step(byte[] input, string what)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _busy = true;
        }
        var native = new Gssapi.NativeBuffer(input);
        try
        {
            var status = Gssapi.InitSecContext(out var minor, _credential, ref _context, _name, Gssapi.SpnegoMechanism, Flags, RequestedLifetimeSeconds, IntPtr.Zero,
                ref native.Buffer, IntPtr.Zero, out var output, out var granted, out _);
            var token = Gssapi.TakeBytes(ref output);
            if (Gssapi.IsError(status))
            {
                throw Failure(what, status, minor);
            }
            if (status == Gssapi.Complete)
            {
                if ((granted & Gssapi.MutualFlag) == 0)
                {
                    throw new SmbSecurityException($"The Kerberos exchange for {_target} completed without mutual authentication; refused.");
                }
                _complete = true;
            }
            return token;
        }
        finally
        {
            native.Dispose();
            lock (_gate)
            {
                _busy = false;
                if (_disposed)
                {
                    Release(); // disposed while this call ran (its caller stopped waiting)
                }
            }
        }
    }

    private SmbKerberosException Failure(string what, uint major, uint minor)
    {
        var words = Gssapi.Describe(major, minor);
        return new(StatusFor(minor, words), $"Kerberos for {_target.Replace('@', '/')}: {what} failed: {words}", major, minor);
    }

    /// <summary>
    /// The nearest NTSTATUS: from the krb5 error code (com_err table base -1765328384) when the minor status is one, else
    /// from the library's words (through SPNEGO the minor status is SPNEGO's own, and only the message names the cause).
    /// </summary>
    private static NtStatus StatusFor(uint minor, string words) => unchecked((int)minor + 1765328384) switch
    {
        6 or 7 => NtStatus.NoSuchUser, // KDC_ERR_C_PRINCIPAL_UNKNOWN, KDC_ERR_S_PRINCIPAL_UNKNOWN
        37 => NtStatus.TimeDifferenceAtDc, // KRB_AP_ERR_SKEW
        _ when words.Contains("Clock skew too great", StringComparison.Ordinal) => NtStatus.TimeDifferenceAtDc,
        _ when words.Contains("not found in Kerberos database", StringComparison.Ordinal) => NtStatus.NoSuchUser,
        _ => NtStatus.LogonFailure,
    };

    private void Release()
    {
        if (_context != IntPtr.Zero)
        {
            Gssapi.DeleteSecContext(out _, ref _context, IntPtr.Zero);
        }
        if (_credential != IntPtr.Zero)
        {
            Gssapi.ReleaseCred(out _, ref _credential);
        }
        if (_name != IntPtr.Zero)
        {
            Gssapi.ReleaseName(out _, ref _name);
        }
        Array.Clear(_sessionKey);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            if (!_busy)
            {
                Release();
            }
        }
    }
}
