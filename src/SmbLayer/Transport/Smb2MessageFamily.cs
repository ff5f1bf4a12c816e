using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>SMB2/3 framing: 64-byte headers, compound chains linked by NextCommand (MS-SMB2 §3.2.5.1).</summary>
internal sealed class Smb2MessageFamily : IMessageFamily
{
    /// <summary>MessageId the server uses for unsolicited oplock/lease break notifications (MS-SMB2 §3.3.4.6).</summary>
    public const ulong UnsolicitedMessageId = ulong.MaxValue;

    /// <summary>Header plus the smallest body (StructureSize 2 bodies exist, e.g. nothing smaller than 4 in practice).</summary>
    private const int MinimumBody = 2;

    public static Smb2MessageFamily Instance { get; } = new();

    public int MinimumMessageSize => Smb2Header.Size + MinimumBody;

    public int FirstMessageLength(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < Smb2Header.Size)
        {
            throw new SmbProtocolException($"SMB2 message truncated: {frame.Length} bytes, need at least {Smb2Header.Size}.");
        }
        if (!Smb2Header.HasSmb2ProtocolId(frame))
        {
            throw new SmbProtocolException($"Not an SMB2 message (protocol id 0x{frame[0]:X2}{frame[1]:X2}{frame[2]:X2}{frame[3]:X2}).");
        }
        var next = Smb2Header.ReadNextCommand(frame);
        if (next == 0)
        {
            return frame.Length;
        }
        // A chained message must start 8-byte aligned, inside the frame, after a whole header.
        if (next < Smb2Header.Size + MinimumBody || next >= (uint)frame.Length || next % 8 != 0)
        {
            throw new SmbProtocolException($"Bad NextCommand {next} in a compound of {frame.Length} bytes.");
        }
        return (int)next;
    }

    public IncomingMessageInfo Classify(ReadOnlySpan<byte> message)
    {
        var header = Smb2Header.ReadFrom(message);
        if (!header.IsResponse)
        {
            throw new SmbProtocolException($"Received an SMB2 request ({header.Command}, MessageId {header.MessageId}) from the server.");
        }
        var interim = header.IsAsync && header.NtStatus == NtStatus.Pending;
        var unsolicited = header.MessageId == UnsolicitedMessageId;
        if (unsolicited && header.Command != Smb2Command.OplockBreak)
        {
            throw new SmbProtocolException($"Unsolicited {header.Command} message from the server.");
        }
        return new IncomingMessageInfo(header.MessageId, header.Credits, interim, header.AsyncId, unsolicited, header.Status, header.IsSigned, (ushort)header.Command);
    }

    public int BulkPrefixSize => ReadResponse.PrefixSize;

    public bool TryGetBulkData(ReadOnlySpan<byte> prefix, int frameLength, out ulong messageId, out int dataOffset, out int dataLength)
    {
        messageId = 0;
        dataOffset = dataLength = 0;
        if (prefix.Length < Smb2Header.Size || !Smb2Header.HasSmb2ProtocolId(prefix))
        {
            return false;
        }
        var header = Smb2Header.ReadFrom(prefix);
        if (!header.IsResponse || header.Command != Smb2Command.Read || header.NtStatus != NtStatus.Success
            || header.NextCommand != 0 || header.MessageId == UnsolicitedMessageId)
        {
            return false;
        }
        messageId = header.MessageId;
        return ReadResponse.TryGetDataLayout(prefix, frameLength, out dataOffset, out dataLength);
    }
}
