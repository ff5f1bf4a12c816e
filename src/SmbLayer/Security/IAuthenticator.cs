namespace SmbLayer.Security;

/// <summary>
/// One GSS-API style authentication exchange carried in SESSION_SETUP security buffers.
/// Sequence: <see cref="Initiate"/> → send; while the server answers
/// STATUS_MORE_PROCESSING_REQUIRED, <see cref="Continue"/> with its token → send;
/// on STATUS_SUCCESS, <see cref="Complete"/> with the final token (may be empty).
/// </summary>
internal interface IAuthenticator : IDisposable
{
    /// <summary>First token. <paramref name="negotiateToken"/> is the NEGOTIATE response's security buffer (may be empty).</summary>
    byte[] Initiate(ReadOnlySpan<byte> negotiateToken);

    /// <summary>Next token for a STATUS_MORE_PROCESSING_REQUIRED reply's buffer.</summary>
    byte[] Continue(ReadOnlySpan<byte> serverToken);

    /// <summary>Checks the server's final token (e.g. SPNEGO accept-completed and mechListMIC). Throws on a bad one.</summary>
    void Complete(ReadOnlySpan<byte> serverToken);

    /// <summary>The session key for signing/encryption (16 bytes for NTLM) once the exchange produced it; empty for anonymous.</summary>
    ReadOnlySpan<byte> SessionKey { get; }

    /// <summary>True when the session is anonymous or the server logged us on as guest-capable null session.</summary>
    bool IsAnonymous { get; }
}
