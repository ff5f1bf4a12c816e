namespace SmbLayer.Protocol;

/// <summary>
/// A request body codec. The transport writes the 64-byte header; the request writes
/// everything after it. Offsets inside the body are relative to the start of the SMB2
/// header (MS-SMB2 §2.2), so a field at body position p has offset <c>Smb2Header.Size + p</c>.
/// </summary>
internal interface ISmb2Request
{
    Smb2Command Command { get; }

    /// <summary>Exact number of bytes <see cref="WriteBody"/> writes (fixed part plus variable buffers).</summary>
    int BodySize { get; }

    /// <summary>
    /// Bytes of payload that decide the credit charge (MS-SMB2 §3.1.5.2): for READ the
    /// length asked for, for WRITE the data length, for QUERY_DIRECTORY / QUERY_INFO / IOCTL
    /// the larger of input and maximum output. Zero for the rest.
    /// </summary>
    int PayloadSize { get; }

    /// <summary>Writes the body into <paramref name="body"/> (exactly <see cref="BodySize"/> bytes).</summary>
    void WriteBody(Span<byte> body);

    /// <summary>Header flags this request itself needs (a CREATE of a DFS path name: SMB2_FLAGS_DFS_OPERATIONS).</summary>
    Smb2HeaderFlags HeaderFlags => Smb2HeaderFlags.None;
}

/// <summary>
/// A request whose body ends in a bulk payload (WRITE data) that the transport may send straight
/// from the caller's memory after the fixed part, instead of copying it into the frame buffer.
/// <see cref="ISmb2Request.BodySize"/> is <see cref="FixedPartSize"/> plus the payload length.
/// </summary>
internal interface ISmb2PayloadRequest
{
    int FixedPartSize { get; }

    ReadOnlyMemory<byte> Payload { get; }

    /// <summary>The payload when it lives in a local file instead (<see cref="Payload"/> is then empty).</summary>
    ExternalPayload? PayloadSource { get; }

    /// <summary>Writes the body without the payload (exactly <see cref="FixedPartSize"/> bytes).</summary>
    void WriteFixedPart(Span<byte> body);
}
