namespace SmbLayer.Protocol;

/// <summary>
/// The 4-byte body shared by several commands: StructureSize(2) = 4, Reserved(2)
/// (LOGOFF §2.2.7/§2.2.8, TREE_DISCONNECT §2.2.11/§2.2.12, FLUSH response §2.2.18,
/// ECHO §2.2.28/§2.2.29, CANCEL §2.2.30).
/// </summary>
internal static class EmptyBody
{
    public const ushort StructureSizeValue = 4;
    public const int Size = 4;

    public static void Write(Span<byte> body)
    {
        body[..Size].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
    }

    public static void Check(ReadOnlySpan<byte> message, string messageName) =>
        Smb2Wire.CheckBody(message, StructureSizeValue, Size, messageName);
}

/// <summary>SMB2 LOGOFF request (MS-SMB2 §2.2.7).</summary>
internal sealed class LogoffRequest : ISmb2Request
{
    public Smb2Command Command => Smb2Command.Logoff;
    public int BodySize => EmptyBody.Size;
    public int PayloadSize => 0;
    public void WriteBody(Span<byte> body) => EmptyBody.Write(body);
}

/// <summary>SMB2 LOGOFF response (MS-SMB2 §2.2.8).</summary>
internal sealed class LogoffResponse
{
    public static readonly LogoffResponse Instance = new();

    public static LogoffResponse Parse(ReadOnlySpan<byte> message)
    {
        EmptyBody.Check(message, "LOGOFF response");
        return Instance;
    }
}

/// <summary>SMB2 TREE_DISCONNECT request (MS-SMB2 §2.2.11).</summary>
internal sealed class TreeDisconnectRequest : ISmb2Request
{
    public Smb2Command Command => Smb2Command.TreeDisconnect;
    public int BodySize => EmptyBody.Size;
    public int PayloadSize => 0;
    public void WriteBody(Span<byte> body) => EmptyBody.Write(body);
}

/// <summary>SMB2 TREE_DISCONNECT response (MS-SMB2 §2.2.12).</summary>
internal sealed class TreeDisconnectResponse
{
    public static readonly TreeDisconnectResponse Instance = new();

    public static TreeDisconnectResponse Parse(ReadOnlySpan<byte> message)
    {
        EmptyBody.Check(message, "TREE_DISCONNECT response");
        return Instance;
    }
}

/// <summary>SMB2 ECHO request (MS-SMB2 §2.2.28).</summary>
internal sealed class EchoRequest : ISmb2Request
{
    public Smb2Command Command => Smb2Command.Echo;
    public int BodySize => EmptyBody.Size;
    public int PayloadSize => 0;
    public void WriteBody(Span<byte> body) => EmptyBody.Write(body);
}

/// <summary>SMB2 ECHO response (MS-SMB2 §2.2.29).</summary>
internal sealed class EchoResponse
{
    public static readonly EchoResponse Instance = new();

    public static EchoResponse Parse(ReadOnlySpan<byte> message)
    {
        EmptyBody.Check(message, "ECHO response");
        return Instance;
    }
}

/// <summary>
/// SMB2 CANCEL request (MS-SMB2 §2.2.30). The transport puts the MessageId (sync) or the
/// AsyncId with SMB2_FLAGS_ASYNC_COMMAND (async) of the request being cancelled in the header;
/// CANCEL takes no credit and gets no response.
/// </summary>
internal sealed class CancelRequest : ISmb2Request
{
    public Smb2Command Command => Smb2Command.Cancel;
    public int BodySize => EmptyBody.Size;
    public int PayloadSize => 0;
    public void WriteBody(Span<byte> body) => EmptyBody.Write(body);
}
