namespace SmbLayer.Transport;

/// <summary>
/// Signs outgoing and verifies incoming messages of one session. Supplied by the session
/// layer; the transport only decides when to call it. Must allow one concurrent signer
/// (writer) and one concurrent verifier (reader).
/// </summary>
internal interface IMessageSigner
{
    /// <summary>Sets the Signed flag and writes the signature of one SMB2 message in place.</summary>
    void Sign(Span<byte> message);

    /// <summary>True when the message's signature is right. Leaves the buffer as it was.</summary>
    bool Verify(Span<byte> message);
}
