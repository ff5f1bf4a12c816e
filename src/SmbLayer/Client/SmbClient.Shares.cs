using SmbLayer.Protocol;
using SmbLayer.Protocol.Rpc;
using SmbLayer.Session;

namespace SmbLayer;

// Share listing: srvsvc NetrShareEnum over the IPC$ named pipe, as `smbclient -L` asks for it.
public sealed partial class SmbClient
{
    /// <summary>Bytes read off the pipe per request.</summary>
    private const int PipeReadSize = 64 * 1024;

    /// <summary>An answer's stub may not grow past this (a list of <see cref="Srvsvc.MaxShares"/> long-named shares fits).</summary>
    private const int MaxShareListStub = 16 * 1024 * 1024;

    /// <summary>Pages asked for at most when the server answers ERROR_MORE_DATA.</summary>
    private const int MaxShareListPages = 64;

    /// <summary>
    /// Lists the server's shares with name, type and comment (srvsvc NetrShareEnum, level 1, over IPC$), hidden ones
    /// (IPC$, ADMIN$) included, in the server's order. <paramref name="server"/> is a host name or address, or a location
    /// (<c>smb://[user@]host[:port]/</c>, <c>\\host</c>) whose share and path are ignored.
    /// </summary>
    public Task<IReadOnlyList<SmbShareInfo>> ListSharesAsync(string server, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(server);
        var path = server.Contains("//", StringComparison.Ordinal) || server.StartsWith(@"\\", StringComparison.Ordinal)
            ? SmbPath.Parse(server)
            : SmbPath.Parse("smb://" + server);
        return ListSharesAsync(path, cancellationToken);
    }

    /// <inheritdoc cref="ListSharesAsync(string, CancellationToken)"/>
    public Task<IReadOnlyList<SmbShareInfo>> ListSharesAsync(SmbPath server, CancellationToken cancellationToken = default) =>
        Traced("smb.list_shares", server, () => ListSharesCoreAsync(server.At(server.Host, server.Port, "IPC$", ""), cancellationToken));

    private async Task<IReadOnlyList<SmbShareInfo>> ListSharesCoreAsync(SmbPath ipc, CancellationToken cancellationToken)
    {
        var what = $"Listing the shares of {ipc.Host} (srvsvc NetrShareEnum)";
        using var lease = await Pool.AcquireTreeAsync(ipc, CallOptions, cancellationToken).ConfigureAwait(false);
        var pipe = await lease.Tree.CreateAsync(new CreateRequest("srvsvc")
        {
            DesiredAccess = AccessMask.FileReadData | AccessMask.FileWriteData | AccessMask.FileAppendData | AccessMask.FileReadAttributes
                | AccessMask.Synchronize,
            ShareAccess = ShareAccess.Read | ShareAccess.Write,
            CreateDisposition = CreateDisposition.Open,
            CreateOptions = CreateOptions.NonDirectoryFile,
        }, lease.Call, HandleDurability.Plain, cancellationToken).ConfigureAwait(false);
        try
        {
            uint callId = 1;
            var bindAck = await RpcExchangeAsync(pipe, DceRpc.EncodeBind(callId, Srvsvc.Interface, Srvsvc.InterfaceMajor, Srvsvc.InterfaceMinor),
                what, cancellationToken).ConfigureAwait(false);
            DceRpc.CheckBindAck(bindAck, callId, what);
            var shares = new List<SmbShareInfo>();
            uint resume = 0;
            for (var page = 0; ; page++)
            {
                callId++;
                var assembler = new DceRpc.ResponseAssembler(callId, MaxShareListStub, what);
                var answer = await RpcExchangeAsync(pipe, DceRpc.EncodeRequest(callId, Srvsvc.NetrShareEnumOpnum,
                    Srvsvc.EncodeShareEnum(ipc.Host, resume)), what, cancellationToken, assembler).ConfigureAwait(false);
                var result = Srvsvc.DecodeShareEnum(answer);
                if (shares.Count + result.Shares.Count > Srvsvc.MaxShares)
                {
                    throw new SmbProtocolException($"{what}: more than {Srvsvc.MaxShares} shares.");
                }
                shares.AddRange(result.Shares);
                if (result.Error == 0)
                {
                    break;
                }
                if (result.Error == Srvsvc.ErrorMoreData && result.ResumeHandle is { } next && next != resume && result.Shares.Count > 0
                    && page + 1 < MaxShareListPages)
                {
                    resume = next;
                    continue;
                }
                var error = $"{what}: the server answered {SmbRpcException.Describe(result.Error)}";
                throw result.Error == 5 ? new SmbAccessDeniedException(NtStatus.AccessDenied, error) : new SmbRpcException(result.Error, error);
            }
            await pipe.CloseAsync(cancellationToken).ConfigureAwait(false);
            return shares;
        }
        finally
        {
            await pipe.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sends one PDU over the pipe and returns the answer: the bind_ack as it came, or (with an <paramref name="assembler"/>)
    /// the stub reassembled from every response fragment, reading the pipe until the last one.
    /// </summary>
    private static async Task<byte[]> RpcExchangeAsync(SmbOpen pipe, byte[] pdu, string what, CancellationToken cancellationToken,
        DceRpc.ResponseAssembler? assembler = null)
    {
        var (data, more) = await pipe.PipeTransceiveAsync(pdu, PipeReadSize, cancellationToken).ConfigureAwait(false);
        if (assembler is null)
        {
            if (more)
            {
                throw new SmbProtocolException($"{what}: a bind_ack longer than {PipeReadSize} bytes.");
            }
            return data;
        }
        assembler.Add(data);
        // Each read must bring bytes and the stub is bounded, so this ends.
        while (!assembler.Complete)
        {
            (data, _) = await pipe.PipeReadAsync(PipeReadSize, cancellationToken).ConfigureAwait(false);
            if (data.Length == 0)
            {
                throw new SmbProtocolException($"{what}: the pipe returned nothing before the response's last fragment.");
            }
            assembler.Add(data);
        }
        return assembler.Stub;
    }
}
