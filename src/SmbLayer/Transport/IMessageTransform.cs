namespace SmbLayer.Transport;

/// <summary>
/// Encrypts outgoing and decrypts incoming frames of one session (the SMB 3 TRANSFORM header,
/// MS-SMB2 §3.1.4.3). Supplied by the session layer; the transport decides when to call it: a
/// request whose <see cref="RequestContext.Transform"/> is set goes out encrypted (a compound as
/// one unit), and an incoming TRANSFORM frame is decrypted by the transform registered for its
/// SessionId. One writer may encrypt while one reader decrypts.
/// </summary>
internal interface IMessageTransform
{
    /// <summary>The session whose keys this transform holds.</summary>
    ulong SessionId { get; }

    /// <summary>Bytes added in front of the plaintext (the TRANSFORM header).</summary>
    int Overhead { get; }

    /// <summary>Writes header and ciphertext for <paramref name="plaintext"/>; <paramref name="destination"/> is Overhead + plaintext length bytes.</summary>
    void Encrypt(ReadOnlySpan<byte> plaintext, Span<byte> destination);

    /// <summary>Authenticates and decrypts a whole TRANSFORM message; throws <see cref="SmbProtocolException"/> when it does not verify.</summary>
    void Decrypt(ReadOnlySpan<byte> message, Span<byte> plaintext);
}
